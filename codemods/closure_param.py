"""Give a `go` or `defer` closure in a loop its own copy of the loop variables it only reads.

Before Go 1.22 a loop has one variable for all its iterations and reassigns it each time, so a
closure that outlives an iteration shares it and the compiler moves it to the heap (`moved to
heap: item`); that sharing is also the classic bug of goroutines all seeing the last item. A
per-iteration copy declared just before the statement is never reassigned, so the closure captures
it by value and nothing is moved to the heap. The copy is used rather than passing the variable as
a parameter: `go f(x)` and `defer f(x)` wrap the call in one more heap-allocated closure per
iteration, which costs more than it saves. A variable the closure writes, or that the function
changes after the statement (the loop's own update aside), is left alone. Because the copy fixes
that bug, it changes what a closure reads once the loop has moved on: it is taken only for a
goroutine that reads the variables before it can wait for anything, where a later value could
only come from a data race. From `go 1.22` in go.mod each iteration has its own variable already,
and the copy changes and removes nothing.

Before:  for _, item := range items { go func() { use(item) }() }
After:   for _, item := range items { item := item; go func() { use(item) }() }
"""

from __future__ import annotations

from goescape.engine.codemod import Match, Pattern
from goescape.engine.edits import Edit
from goescape.engine.facts import EscapeFact, Kind
from goescape.engine.gotypes import GoObject, GoType
from goescape.engine.parsing import FUNCTION_TYPES, Node, SourceFile, enclosing, walk
from goescape.engine.passes import Pass
from goescape.engine.toolchain import go_line_at_least

NAME = "closure-param"
PATTERNS = (
    Pattern(
        "loopvar",
        differs="differs before Go 1.22 when the closure reads the variable after the loop has moved it on, as a"
        " deferred closure or a goroutine that first waits does: it then sees its own iteration's value, not a later one",
    ),
)
QUERY = """
[(go_statement (call_expression function: (func_literal)))
 (defer_statement (call_expression function: (func_literal)))] @stmt
"""

# Writing through a value of these kinds (p.f = 1, s[i] = 1, p.M()) leaves the variable itself alone.
_INDIRECT = ("basic", "pointer", "slice", "map", "chan", "func", "interface")
_LEFT = ("assignment_statement", "short_var_declaration", "range_clause", "receive_statement")
_WAITS = ("send_statement", "select_statement", "go_statement")


def propose(match: Match, pass_: Pass) -> None:
    src, found = match.src, match.one("stmt")
    stmt = src.root.named_descendant_for_byte_range(found.start_byte, found.end_byte) if found else None
    closure, outer = _closure(stmt), enclosing(stmt, *FUNCTION_TYPES)
    if stmt is None or closure is None or outer is None or stmt.parent is None:
        return
    if stmt.parent.type != "statement_list":
        return  # a labeled go statement: there is no plain place for the copy
    # A copy made for an earlier closure in the same block is what this one reads too.
    earlier = [c for s in stmt.parent.named_children if s.end_byte <= stmt.start_byte and (c := _closure(s))]
    served = {src.text(n) for c in earlier for n in walk(c) if n.type == "identifier"}
    verb, go_line = stmt.type.removesuffix("_statement"), pass_.package.go_line
    names: list[str] = []
    targets: list[EscapeFact] = []
    for name, (obj, decl) in _loop_variables(pass_, src, closure, outer).items():
        if name in served:
            continue
        moved = [f for f in pass_.facts_within(src, decl) if f.kind is Kind.MOVED and f.expr == name]
        if why := _problem(pass_, src, stmt, closure, outer, obj, decl, verb):
            pass_.skip(src, stmt, why, moved)
        else:
            names.append(name)
            targets += moved
    if not names:
        return
    listed, unproven = ", ".join(names), [n for n in names if not any(t.expr == n for t in targets)]
    who = "goroutine" if verb == "go" else "deferred call"
    if_unproven = f"the compiler does not move {_join(unproven)} to the heap here" if unproven else ""
    proven = ""
    if go_line_at_least(go_line, 1, 22):
        proven = f"go.mod says go {go_line}: each iteration has its own loop variables already"
        if_unproven = if_unproven and f"{proven}, which closures capture without a heap allocation"
    elif verb == "go" and _reads_first(pass_, src, closure, set(names)):
        proven = (
            f"the goroutine reads {_join(names)} before it may wait, so a later value could only come of a data race"
        )
    pass_.report(
        src,
        stmt,
        [Edit.insert(src, stmt.start_byte, f"{listed} := {listed}; ")],  # gofmt puts it on a line of its own
        targets=targets,
        rationale=f"a per-iteration copy of {_join(names)} gives each {who} its own: no loop variable is shared,"
        " so none has to move to the heap",
        pattern="loopvar",
        proven=proven,
        if_unproven=if_unproven,
    )


def _closure(stmt: Node | None) -> Node | None:
    """The func literal a go or defer statement calls."""
    call = stmt.named_children[0] if stmt is not None and stmt.type in ("go_statement", "defer_statement") else None
    function = call.child_by_field_name("function") if call is not None else None
    return function if function is not None and function.type == "func_literal" else None


def _loop_variables(pass_: Pass, src: SourceFile, closure: Node, outer: Node) -> dict[str, tuple[GoObject, Node]]:
    """The variables a range or for clause of the enclosing function declares that the closure names,
    with the identifier that declares each."""
    found: dict[str, tuple[GoObject, Node]] = {}
    for ident in walk(closure.child_by_field_name("body") or closure):
        name = src.text(ident)
        obj = pass_.object_of(src, ident) if ident.type == "identifier" and name not in found else None
        if obj is None or obj.kind != "var" or obj.package_level or obj.path != src.path:
            continue
        decl = src.root.named_descendant_for_byte_range(obj.offset, obj.offset + len(name.encode()))
        left = decl.parent if decl is not None else None
        holder = left.parent if left is not None else None
        if decl is None or left is None or holder is None or not _inside(decl, outer) or _inside(decl, closure):
            continue
        clause = holder.parent if holder.type == "short_var_declaration" else holder
        declares = _id(holder.child_by_field_name("left")) == left.id and any(c.type == ":=" for c in holder.children)
        if declares and clause is not None and clause.type in ("range_clause", "for_clause"):
            found[name] = (obj, decl)
    return found


def _problem(
    pass_: Pass, src: SourceFile, stmt: Node, closure: Node, outer: Node, obj: GoObject, decl: Node, verb: str
) -> str:
    """Why the closure must keep sharing the variable: it writes it, or something changes it once it runs."""
    # A loop around the statement that does not declare the variable runs its writes again after the closure starts.
    loops, node, name = [], stmt.parent, obj.name
    while node is not None and node.id != outer.id:
        if node.type == "for_statement" and not _inside(decl, node):
            loops.append(node)
        node = node.parent
    uses = [u for use in pass_.uses(obj) if use.path == src.path and (u := _at(src, use.start, use.end))]
    for use in sorted(uses, key=lambda u: (not _inside(u, closure), u.start_byte)):  # the closure's own writes first
        how = _write(pass_, src, use, obj.type)
        if not how:
            continue
        where, other = f"{src.path.name}:{src.line_of(use.start_byte)}", enclosing(use.parent, "func_literal")
        if _inside(use, closure):
            return f"the closure {how} {name} ({where})"
        if other is not None and other.id != outer.id:
            return f"another closure {how} {name} ({where})"
        if how == "takes the address of":
            return f"takes the address of {name}, through which it may change while the closure runs ({where})"
        when = f"after the {verb} statement" if use.start_byte > stmt.start_byte else "in the loop's next iteration"
        if use.start_byte > stmt.start_byte or any(_inside(use, n) for n in loops):
            return f"{how} {name} {when}, so a copy would change what the code does ({where})"
    return ""


def _write(pass_: Pass, src: SourceFile, use: Node, typ: GoType | None) -> str:
    """How this use may change the variable ("assigns to", ...), or "" when it only reads it."""
    indirect = typ is not None and typ.kind in _INDIRECT
    place = use
    while not indirect and (up := place.parent) is not None and up.type in ("selector_expression", "index_expression"):
        if up.named_children[0].id != place.id:
            break
        place = up  # x.f = v and x[i] = v write x itself
    parent = place.parent
    if parent is not None and parent.type == "expression_list":
        parent = parent.parent
    if parent is None:
        return ""
    left = parent.child_by_field_name("left") if parent.type in _LEFT else None
    if parent.type in ("inc_statement", "dec_statement") or (left is not None and _inside(place, left)):
        return "assigns to"
    if parent.type == "unary_expression" and src.text(parent).startswith("&"):
        return "takes the address of"
    if parent.type == "slice_expression" and parent.named_children[0].id == place.id and not indirect:
        return "slices"
    receiver, method = place.child_by_field_name("operand"), place.child_by_field_name("field")
    if parent.type == "call_expression" and place.id != use.id and receiver is not None and method is not None:
        found = pass_.type_of(src, receiver)
        if found is None or src.text(method) in found.pointer_methods - found.methods:
            return "calls a pointer method on"
    return ""


def _reads_first(pass_: Pass, src: SourceFile, closure: Node, names: set[str]) -> bool:
    """Whether the goroutine is done reading `names` before it first may wait for another goroutine.

    Its statements run in order: every one before the last that reads them, and that one too unless
    it is a plain call whose operands are read before it runs, must not wait. A deferred call runs
    last, so only its operands count; a closure inside that reads them reads them at some later time,
    and so may a statement a goto jumps back to.
    """
    body = closure.child_by_field_name("body")
    stmts = [s for c in body.named_children for s in c.named_children] if body is not None else []
    reading = [i for i, s in enumerate(stmts) if any(src.text(n) in names for n in walk(s) if n.type == "identifier")]
    inner = [n for n in walk(body) if n.type in ("func_literal", "goto_statement")] if body is not None else []
    if not reading or any(src.text(n) in names or n.type == "goto_statement" for lit in inner for n in walk(lit)):
        return False
    last = stmts[reading[-1]]
    call = last.named_children[0] if last.type == "expression_statement" and last.named_children else None
    if call is not None and call.type == "call_expression":
        last = call  # its function and arguments are evaluated before it runs
    return not any(_may_wait(pass_, src, s) for s in (*stmts[: reading[-1]], last))


def _may_wait(pass_: Pass, src: SourceFile, node: Node) -> bool:
    """Whether running `node` may wait for another goroutine: a channel operation, or a call that is
    neither a builtin nor a conversion (a call node stands for its operands alone)."""
    parts = [node]
    if node.type in ("defer_statement", "call_expression"):
        call = node.named_children[0] if node.type == "defer_statement" else node
        parts = [c for c in call.named_children if c.type != "func_literal"]
    for n in (n for part in parts for n in walk(part)):
        receives = n.type == "unary_expression" and src.text(n).startswith("<-")
        over = n.child_by_field_name("right") if n.type == "range_clause" else None
        ranged = pass_.type_of(src, over) if over is not None else None
        calls = n.type == "call_expression" and not _pure(pass_, src, n)
        if n.type in _WAITS or receives or calls or (ranged is not None and ranged.kind == "chan"):
            return True
    return False


def _pure(pass_: Pass, src: SourceFile, call: Node) -> bool:
    """Whether a call is a builtin's (len, append, ...) or a conversion: neither can wait."""
    fn = call.child_by_field_name("function")
    obj = pass_.object_of(src, fn) if fn is not None and fn.type == "identifier" else None
    typ = pass_.type_of(src, fn) if fn is not None else None
    return (obj is not None and obj.kind == "builtin") or (typ is not None and typ.is_type)


def _at(src: SourceFile, start: int, end: int) -> Node | None:
    return src.root.named_descendant_for_byte_range(start, end)


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _inside(node: Node, within: Node) -> bool:
    return within.start_byte <= node.start_byte and node.end_byte <= within.end_byte


def _id(node: Node | None) -> int | None:
    return node.id if node is not None else None
