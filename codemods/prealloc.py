"""Give a slice that a loop appends to once per iteration its final capacity up front.

Appending to an empty slice reallocates and copies its backing array each time it fills, about
log2(n) times (5 allocations for 100 ints); `make([]T, 0, n)`, with the number of iterations known
before the loop, allocates it once. A returned slice still escapes, so what proves the rewrite is
the allocation count at run time, not a vanished escape line. Whether the variable is a slice, and
what the loop ranges over, is go/types' answer, so a named slice type is taken too. The bound is
`len(xs)` for a range over a slice, array, map or string (a string has at most as many runes as
bytes) and `n` for `range n` or `for i := 0; i < n; i++`, as `max(n, 0)` unless n cannot be
negative (a negative capacity panics). The append must be the loop's only use of the slice and run
once per iteration; --allow-overcap also takes one under an if or beside a continue, which may
allocate more than is used. `var s []T` is nil when the loop runs zero times and make's slice is
not, so it is rewritten only when nothing after the loop can tell them apart (len, cap, indexing
and range cannot).

Before:  names := []string{}; for _, u := range users { names = append(names, u.Name) }
After:   names := make([]string, 0, len(users)); for _, u := range users { names = append(names, u.Name) }
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from goescape.engine.codemod import Match, Pattern
from goescape.engine.edits import Edit
from goescape.engine.parsing import Node, SourceFile, enclosing, walk
from goescape.engine.passes import Pass
from goescape.engine.toolchain import go_line_at_least

NAME = "prealloc"
PATTERNS = (
    # s := []T{} or make([]T, 0) → make([]T, 0, n): empty and not nil either way; only the capacity,
    # which the language leaves to append, differs.
    Pattern("append100"),
    # var s []T → s := make([]T, 0, n)
    Pattern(
        "nil-slice",
        differs="differs when the loop runs zero times: var s []T stays nil where make's slice is empty but not"
        " nil, which s == nil, reflect and encoding/json (null, not []) tell apart",
    ),
)
QUERY = """
(var_declaration . (var_spec . name: (identifier) @slice . type: (_) @type .) .) @decl
(short_var_declaration
  left: (expression_list . (identifier) @slice .)
  right: (expression_list . (composite_literal type: (_) @type body: (literal_value) @empty) @value .)
  (#eq? @empty "{}")) @decl
(short_var_declaration
  left: (expression_list . (identifier) @slice .)
  right: (expression_list .
    (call_expression function: (identifier) @make arguments: (argument_list . (_) @type . (_) @zero .))
    @value .)
  (#eq? @make "make") (#eq? @zero "0")) @decl
"""

_EXITS = {"continue_statement", "break_statement", "return_statement", "goto_statement", "labeled_statement"}
_BRANCHES = ("if_statement", "expression_switch_statement", "type_switch_statement", "select_statement")


def propose(match: Match, pass_: Pass) -> None:
    src, decl, slice_, value = match.src, match.one("decl"), match.one("slice"), match.one("value")
    if decl is None or slice_ is None or decl.parent is None or decl.parent.type != "statement_list":
        return
    typ = pass_.type_of(src, slice_)
    if typ is None or typ.kind != "slice":
        return  # a map made empty, a struct literal: go/types says it is no slice
    name, siblings = src.text(slice_), decl.parent.named_children
    rest = siblings[[s.id for s in siblings].index(decl.id) + 1 :]
    first = next((i for i, s in enumerate(rest) if _named(src, s, name)), len(rest))
    loop = rest[first] if first < len(rest) and rest[first].type == "for_statement" else None
    body = loop.child_by_field_name("body") if loop is not None else None
    appends = [(n, v) for n in walk(body) if (v := _appended(src, n, name)) is not None] if body is not None else []
    if loop is None or body is None or not appends:
        return  # the first use of the slice is not a loop appending to it
    grown = [f for f in pass_.facts_within(src, appends[0][0]) if f.expr.split("(")[0] == "append"]
    targets = (*(pass_.facts_within(src, value) if value is not None else []), *grown)

    why = _loop_problem(src, name, loop, appends, pass_.options.extra.get("allow_overcap") == "true")
    capacity, why = _capacity(pass_, src, decl, loop, body, rest[:first]) if not why else ("", why)
    if why:
        return pass_.skip(src, decl, why, targets)
    proven = ""
    if decl.type == "var_declaration":
        later = [n for s in rest[first + 1 :] for n in _named(src, s, name)]
        if all(_nil_blind(pass_, src, n) for n in later):
            how = "only len, cap, indexing and range read it" if later else "nothing reads it"
            proven = f"after the loop {how}, which see nil and empty alike"
    new = f"make({match.text('type')}, 0, {capacity})"
    pass_.report(
        src,
        decl,
        [Edit.replace(src, decl, f"{name} := {new}") if value is None else Edit.replace(src, value, new)],
        targets=targets,
        rationale="make([]T, 0, len(xs)) allocates the backing array once instead of growing it log2(n) times",
        pattern="nil-slice" if decl.type == "var_declaration" else "append100",
        proven=proven,
        allowed_new=[r"^make\("],  # the declaration's allocation, spelled anew
        proof="runtime",
        if_unproven="a preallocated slice that is returned still escapes; fewer allocations prove the rewrite",
    )


def _loop_problem(
    src: SourceFile, name: str, loop: Node, appends: Sequence[tuple[Node, list[Node]]], overcap: bool
) -> str:
    """Why the loop's appends to `name` may not number one per iteration, or "" when they do."""
    stmt, values = appends[0]
    where = f"line {src.line_of(stmt.start_byte)}"
    if len(appends) > 1:
        return f"the loop appends to {name} in {len(appends)} places, not once per iteration"
    if len(values) != 1 or values[0].type == "variadic_argument":
        return f"the append at {where} adds other than one element to {name}"
    # `name = append(name, v)`: the two mentions before v are the append's own.
    if other := [n for n in _named(src, loop, name) if not stmt.start_byte <= n.start_byte < values[0].start_byte]:
        return f"the loop uses {name} besides appending to it (line {src.line_of(other[0].start_byte)})"
    if (inner := enclosing(stmt, "for_statement", "func_literal")) is None or inner.id != loop.id:
        return f"the append at {where} is in an inner loop or closure, which need not run once per iteration"
    if not overcap and (branch := enclosing(stmt, *_BRANCHES)) is not None and branch.start_byte > loop.start_byte:
        return f"the append at {where} is conditional: capacity may go unused (--allow-overcap takes it)"
    if not overcap and (exit_ := next(_exits(loop), None)) is not None:
        what = src.text(exit_).split()[0]
        return f"{what} at line {src.line_of(exit_.start_byte)} can leave appends undone (--allow-overcap takes it)"
    return ""


def _capacity(
    pass_: Pass, src: SourceFile, decl: Node, loop: Node, body: Node, between: Sequence[Node]
) -> tuple[str, str]:
    """(the loop's number of iterations as Go text, "") or ("", why it is not known where the slice is declared)."""
    found = _bound(pass_, src, loop)
    if isinstance(found, str):
        return "", found
    bound, is_length, counter = found
    reads = {src.text(n) for n in walk(bound) if n.type == "identifier"} - {"len"}
    if (changed := next((n for n in _assigned(body) if src.text(n) in reads | counter), None)) is not None:
        return "", f"the loop changes {src.text(changed)} (line {src.line_of(changed.start_byte)}), so its bound moves"
    for stmt in between:
        if (exit_ := next(_exits(stmt), None)) is not None:
            what, where = src.text(exit_).split()[0], src.line_of(exit_.start_byte)
            return "", f"{what} at line {where} may leave before the loop, so the bound must not be read sooner"
        if (read := next((n for n in walk(stmt) if n.type == "identifier" and src.text(n) in reads), None)) is not None:
            what, where = src.text(read), src.line_of(read.start_byte)
            return "", f"{what} is used at line {where}, between the declaration and the loop: the bound may differ"
    text = f"len({src.text(bound)})" if is_length else src.text(bound)
    if between and (through := _through_pointer(pass_, src, bound)):
        where = src.line_of(between[0].start_byte)
        return "", f"{text} reads through {through}, which may be nil: read above line {where}, it would panic sooner"
    # A negative n runs the loop zero times, where make would panic: n is clamped unless it cannot be negative.
    typ = pass_.type_of(src, bound)
    sign_free = typ is not None and (typ.unsigned or (typ.constant is not None and not typ.constant.startswith("-")))
    clamp = not (is_length or bound.type == "call_expression" or sign_free)
    if clamp and not go_line_at_least(pass_.package.go_line, 1, 21):
        return "", f"{text} may be negative, and clamping it with max needs go 1.21 in go.mod"
    for builtin in ("make", *(["len"] if is_length else []), *(["max"] if clamp else [])):
        obj = pass_.lookup(src, decl, builtin)
        if (obj is not None and not obj.universe) or builtin in pass_.names_taken():
            return "", f"{builtin} names a declaration of this package here, not the builtin the new declaration calls"
    return (f"max({text}, 0)" if clamp else text), ""


def _bound(pass_: Pass, src: SourceFile, loop: Node) -> tuple[Node, bool, set[str]] | str:
    """What counts the loop's iterations, whether its len is the count, and the loop's counter; or why none does."""
    clause = next((c for c in loop.named_children if c.type in ("range_clause", "for_clause")), None)
    if clause is not None and clause.type == "range_clause":
        over = clause.child_by_field_name("right")
        if over is None or not _plain(src, over):
            return "the loop ranges over an expression, not a name: taking its length before the loop would evaluate it twice"
        typ = pass_.type_of(src, over)
        if typ is not None and typ.integer:
            return over, False, set()  # range over an integer
        if typ is not None and (typ.kind in ("slice", "array", "map") or typ.string):
            return over, True, set()
        if typ is not None and typ.kind == "pointer" and typ.elem is not None and typ.elem.kind == "array":
            return over, True, set()
        if typ is None:
            return pass_.no_type(src, over)
        return f"the loop ranges over {src.text(over)} of type {typ.text}, which has no length to bound it"
    init, cond, step = (
        clause.child_by_field_name(f) if clause else None for f in ("initializer", "condition", "update")
    )
    left = init.child_by_field_name("left") if init is not None else None
    bound = cond.child_by_field_name("right") if cond is not None else None
    i, n = src.text(left) if left else "", src.text(bound) if bound else ""
    if bound is not None and " ".join(src.text(c) for c in (init, cond, step) if c) == f"{i} := 0 {i} < {n} {i}++":
        return (bound, False, {i}) if _plain(src, bound) else f"the loop's bound {n} is not a plain name or len(...)"
    return "only `for i := 0; i < n; i++` and range loops have a number of iterations known before they start"


def _through_pointer(pass_: Pass, src: SourceFile, bound: Node) -> str:
    """The pointer a selector in the bound reads through (itself or a field promoted from it), or ""."""
    for node in walk(bound):
        operand, field = node.child_by_field_name("operand"), node.child_by_field_name("field")
        if node.type != "selector_expression" or operand is None or field is None:
            continue
        package = pass_.object_of(src, operand) if operand.type == "identifier" else None
        typ = None if package is not None and package.kind == "pkgname" else pass_.type_of(src, operand)
        if typ is not None and src.text(field) not in dict(typ.fields):
            return src.text(operand)
    return ""


def _named(src: SourceFile, node: Node, name: str) -> list[Node]:
    return [n for n in walk(node) if n.type == "identifier" and src.text(n) == name]


def _exits(node: Node) -> Iterator[Node]:
    """Statements that leave an iteration or the function early; a closure's own are its business."""
    return (n for n in walk(node) if n.type in _EXITS and enclosing(n, "func_literal") is None)


def _appended(src: SourceFile, node: Node, name: str) -> list[Node] | None:
    """The arguments after the first of `name = append(name, ...)`, when that is the statement `node` is."""
    left, op, right = (node.child_by_field_name(f) for f in ("left", "operator", "right"))
    if node.type != "assignment_statement" or left is None or op is None or op.type != "=" or right is None:
        return None
    call = right.named_children[0] if len(right.named_children) == 1 else right
    fn, args = call.child_by_field_name("function"), call.child_by_field_name("arguments")
    if fn is None or args is None or not args.named_children or src.text(args.named_children[0]) != name:
        return None
    return args.named_children[1:] if (src.text(left), src.text(fn)) == (name, "append") else None


def _plain(src: SourceFile, node: Node) -> bool:
    """A name, a selector, an integer literal or the len of one: read without side effects."""
    fn, args, operand = (node.child_by_field_name(f) for f in ("function", "arguments", "operand"))
    if node.type == "call_expression":
        only = args.named_children if args is not None and len(args.named_children) == 1 else []
        return fn is not None and src.text(fn) == "len" and bool(only) and _plain(src, only[0])
    if node.type == "selector_expression":
        return operand is not None and _plain(src, operand)
    return node.type in ("identifier", "int_literal")


def _assigned(body: Node) -> Iterator[Node]:
    """The variables the loop body assigns to or increments (the first name in `x.f[i] = ...` is x)."""
    for node in walk(body):
        left = node.child_by_field_name("left") if node.type == "assignment_statement" else None
        places = left.named_children if left is not None else []
        for place in places or (node.named_children[:1] if node.type in ("inc_statement", "dec_statement") else []):
            yield next((n for n in walk(place) if n.type == "identifier"), place)


def _nil_blind(pass_: Pass, src: SourceFile, use: Node) -> bool:
    """Whether this use reads the same from a nil slice as from an empty one: len, cap, s[i], range."""
    parent = use.parent
    call = parent.parent if parent is not None and parent.type == "argument_list" else None
    fn = call.child_by_field_name("function") if call is not None else None
    builtin = pass_.object_of(src, fn) if fn is not None and fn.type == "identifier" else None
    if builtin is not None and builtin.universe and builtin.name in ("len", "cap"):
        return True
    if parent is not None and parent.type == "index_expression":
        return parent.named_children[0].id == use.id
    right = parent.child_by_field_name("right") if parent is not None and parent.type == "range_clause" else None
    return right is not None and right.id == use.id
