"""Give a slice that a loop appends to once per iteration its final capacity up front.

Appending to an empty slice reallocates and copies its backing array each time it fills, about
log2(n) times (5 allocations for 100 ints); `make([]T, 0, n)`, with the number of iterations known
before the loop, allocates it once. A returned slice still escapes, so what proves the rewrite is
the allocation count at run time, not a vanished escape line. The bound is `len(xs)` for a range
over a slice, map or string (a string has at most as many runes as bytes) and `n` for `range n` or
`for i := 0; i < n; i++`, as `max(n, 0)` unless n cannot be negative (a negative capacity panics).
The append must be the loop's only use of the slice and run once per iteration; --allow-overcap
also takes one under an if or beside a continue, which may allocate more than is used. `var s []T`
is nil when the loop runs zero times and make's slice is not, so it is rewritten only when nothing
after the loop can tell them apart (len, cap, indexing and range cannot).

Before:  names := []string{}; for _, u := range users { names = append(names, u.Name) }
After:   names := make([]string, 0, len(users)); for _, u := range users { names = append(names, u.Name) }
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from goescape.engine.codemod import Context, Edit, Match, Proposal, Skip
from goescape.engine.parsing import Node, SourceFile, enclosing, walk
from goescape.engine.toolchain import go_line_at_least
from goescape.engine.typeinfo import basic_type, declared, declared_type

NAME = "prealloc"
QUERY = """
(var_declaration . (var_spec . name: (identifier) @slice . type: (slice_type) @type .) .) @decl
(short_var_declaration
  left: (expression_list . (identifier) @slice .)
  right: (expression_list . (composite_literal type: (slice_type) @type body: (literal_value) @empty) @value .)
  (#eq? @empty "{}")) @decl
(short_var_declaration
  left: (expression_list . (identifier) @slice .)
  right: (expression_list .
    (call_expression function: (identifier) @make arguments: (argument_list . (slice_type) @type . (_) @zero .))
    @value .)
  (#eq? @make "make") (#eq? @zero "0")) @decl
"""

_UNSIGNED = {"uint", "uint8", "uint16", "uint32", "uint64", "uintptr", "byte"}
_EXITS = {"continue_statement", "break_statement", "return_statement", "goto_statement", "labeled_statement"}
_BRANCHES = ("if_statement", "expression_switch_statement", "type_switch_statement", "select_statement")


def propose(match: Match, ctx: Context) -> Proposal | Skip | None:
    src, decl, slice_, value = match.src, match.one("decl"), match.one("slice"), match.one("value")
    if decl is None or slice_ is None or decl.parent is None or decl.parent.type != "statement_list":
        return None
    name, typ, siblings = src.text(slice_), match.text("type"), decl.parent.named_children
    rest = siblings[[s.id for s in siblings].index(decl.id) + 1 :]
    first = next((i for i, s in enumerate(rest) if _named(src, s, name)), len(rest))
    loop = rest[first] if first < len(rest) and rest[first].type == "for_statement" else None
    body = loop.child_by_field_name("body") if loop is not None else None
    appends = [(n, v) for n in walk(body) if (v := _appended(src, n, name)) is not None] if body is not None else []
    if loop is None or body is None or not appends:
        return None  # the first use of the slice is not a loop appending to it
    func = ctx.function_of(src, decl)
    func_name = func.child_by_field_name("name") if func is not None else None
    line, function = src.line_of(decl.start_byte), src.text(func_name) if func_name is not None else ""
    grown = [f for f in ctx.facts_within(src, appends[0][0]) if f.expr.split("(")[0] == "append"]
    targets = (*(ctx.facts_within(src, value) if value is not None else []), *grown)

    why = _loop_problem(src, name, loop, appends, ctx.options.extra.get("allow_overcap") == "true")
    capacity, why = _capacity(src, ctx, decl, loop, body, rest[:first]) if not why else ("", why)
    later = (n for s in rest[first + 1 :] for n in _named(src, s, name) if not _nil_blind(src, n))
    if not why and decl.type == "var_declaration" and (seen := next(later, None)) is not None:
        where = src.line_of(seen.start_byte)
        why = f"var {name} stays nil if the loop runs zero times, unlike make's slice, and line {where} can tell"
        why += f" ({name} := {typ}{{}} would say that it does not matter)"
    if why:
        return Skip(NAME, src.path, line, function, why, targets)
    new = f"make({typ}, 0, {capacity})"
    return Proposal(
        codemod=NAME,
        package=ctx.package.import_path,
        path=src.path,
        line=line,
        function=function,
        edits=(Edit.replace(src, decl, f"{name} := {new}") if value is None else Edit.replace(src, value, new),),
        targets=targets,
        rationale="make([]T, 0, len(xs)) allocates the backing array once instead of growing it log2(n) times",
        allowed_new=(r"^make\(",),  # the declaration's allocation, spelled anew
        pattern="append100",
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
    src: SourceFile, ctx: Context, decl: Node, loop: Node, body: Node, between: Sequence[Node]
) -> tuple[str, str]:
    """(the loop's number of iterations as Go text, "") or ("", why it is not known where the slice is declared)."""
    found = _bound(src, loop)
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
    if is_length or bound.type in ("int_literal", "call_expression") or basic_type(src, bound) in _UNSIGNED:
        return text, ""
    # A negative n runs the loop zero times, where make would panic.
    if not go_line_at_least(ctx.package.go_line, 1, 21):
        return "", f"{text} may be negative, and clamping it with max needs go 1.21 in go.mod"
    if declared(src, "max", decl) is not None or "max" in ctx.package_level_names():
        return "", f"{text} may be negative, and max, which would clamp it, is declared here"
    return f"max({text}, 0)", ""


def _bound(src: SourceFile, loop: Node) -> tuple[Node, bool, set[str]] | str:
    """What counts the loop's iterations, whether its len is the count, and the loop's counter; or why none does."""
    clause = next((c for c in loop.named_children if c.type in ("range_clause", "for_clause")), None)
    if clause is not None and clause.type == "range_clause":
        over = clause.child_by_field_name("right")
        if over is None or not _plain(src, over):
            return "the loop ranges over an expression, not a name: its length is not known before the loop"
        kind, typ = basic_type(src, over), declared_type(src, over)
        if kind not in (None, "string"):
            return over, False, set()  # range over an integer
        if kind is None and typ is not None and not typ.startswith(("[", "map[", "*[")):
            return f"the loop ranges over {src.text(over)} of type {typ}, which has no length known to bound it"
        return over, True, set()
    init, cond, step = (
        clause.child_by_field_name(f) if clause else None for f in ("initializer", "condition", "update")
    )
    left = init.child_by_field_name("left") if init is not None else None
    bound = cond.child_by_field_name("right") if cond is not None else None
    i, n = src.text(left) if left else "", src.text(bound) if bound else ""
    if bound is not None and " ".join(src.text(c) for c in (init, cond, step) if c) == f"{i} := 0 {i} < {n} {i}++":
        return (bound, False, {i}) if _plain(src, bound) else f"the loop's bound {n} is not a plain name or len(...)"
    return "only `for i := 0; i < n; i++` and range loops have a number of iterations known before they start"


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


def _nil_blind(src: SourceFile, use: Node) -> bool:
    """Whether this use reads the same from a nil slice as from an empty one: len, cap, s[i], range."""
    parent = use.parent
    call = parent.parent if parent is not None and parent.type == "argument_list" else None
    fn = call.child_by_field_name("function") if call is not None else None
    if fn is not None and src.text(fn) in ("len", "cap"):
        return True
    if parent is not None and parent.type == "index_expression":
        return parent.named_children[0].id == use.id
    right = parent.child_by_field_name("right") if parent is not None and parent.type == "range_clause" else None
    return right is not None and right.id == use.id
