"""Give a `go` or `defer` closure in a loop its own copy of the loop variables it only reads.

Before Go 1.22 a loop has one variable for all its iterations and reassigns it each time, so a
closure that outlives an iteration shares it and the compiler moves it to the heap (`moved to
heap: item`); that sharing is also the classic bug of goroutines all seeing the last item. A
per-iteration copy declared just before the statement is never reassigned, so the closure captures
it by value and nothing is moved to the heap. The copy is used rather than passing the variable as
a parameter: `go f(x)` and `defer f(x)` wrap the call in one more heap-allocated closure per
iteration, which costs more than it saves. A variable the closure writes, or that the function
changes after the statement (the loop's own update aside), is left alone. From `go 1.22` in
go.mod each iteration has its own variable already, and the copy removes nothing.

Before:  for _, item := range items { go func() { use(item) }() }
After:   for _, item := range items { item := item; go func() { use(item) }() }
"""

from __future__ import annotations

from goescape.engine.codemod import Context, Edit, Match, Proposal, Skip
from goescape.engine.facts import EscapeFact, Kind
from goescape.engine.parsing import FUNCTION_TYPES, Node, SourceFile, enclosing, function_name, walk
from goescape.engine.toolchain import go_line_at_least
from goescape.engine.typeinfo import BASIC, Binding, declared

NAME = "closure-param"
QUERY = """
[(go_statement (call_expression function: (func_literal)))
 (defer_statement (call_expression function: (func_literal)))] @stmt
"""

# Writing through a value of these types (p.f = 1, s[i] = 1, p.M()) leaves the variable itself alone.
_INDIRECT = ("*", "[]", "map[", "chan ", "<-chan ", "func(")
_LEFT = ("assignment_statement", "short_var_declaration", "range_clause", "receive_statement")


def propose(match: Match, ctx: Context) -> list[Proposal | Skip]:
    found = match.one("stmt")
    top = ctx.function_of(match.src, found) if found is not None else None
    if found is None or top is None:
        return []
    src, function = match.src, function_name(match.src, top)
    stmt = src.root.named_descendant_for_byte_range(found.start_byte, found.end_byte)
    closure, outer = _closure(stmt), enclosing(stmt, *FUNCTION_TYPES)
    if stmt is None or closure is None or outer is None or stmt.parent is None:
        return []
    if stmt.parent.type != "statement_list":
        return []  # a labeled go statement: there is no plain place for the copy
    # A copy made for an earlier closure in the same block is what this one reads too.
    earlier = [c for s in stmt.parent.named_children if s.end_byte <= stmt.start_byte and (c := _closure(s))]
    served = {src.text(n) for c in earlier for n in walk(c) if n.type == "identifier"}
    line, verb = src.line_of(stmt.start_byte), stmt.type.removesuffix("_statement")
    out: list[Proposal | Skip] = []
    names: list[str] = []
    targets: list[EscapeFact] = []
    for name, binding in _loop_variables(src, closure, outer).items():
        if name in served:
            continue
        decl = next(n for n in walk(binding.node) if n.type == "identifier" and src.text(n) == name)
        moved = tuple(f for f in ctx.facts_within(src, decl) if f.kind is Kind.MOVED and f.expr == name)
        why = _problem(src, stmt, closure, outer, name, binding, verb)
        if why:
            out.append(Skip(NAME, src.path, line, function, why, moved))
        else:
            names.append(name)
            targets += moved
    if not names:
        return out
    listed, unproven = ", ".join(names), [n for n in names if not any(t.expr == n for t in targets)]
    who, per_iteration = "goroutine" if verb == "go" else "deferred call", go_line_at_least(ctx.package.go_line, 1, 22)
    rationale = (
        f"a per-iteration copy of {_join(names)} gives each {who} its own: the shared loop variable is no longer"
        " moved to the heap, and the classic loop-variable bug is gone"
    )
    if per_iteration:
        rationale = f"a per-iteration copy of {_join(names)} gives each {who} its own, as Go 1.22 loop variables do"
    if_unproven = f"the compiler does not move {_join(unproven)} to the heap here" if unproven else ""
    if unproven and per_iteration:
        if_unproven = (
            f"go.mod says go {ctx.package.go_line}: loop variables are per-iteration since Go 1.22, so"
            f" {_join(unproven)} {'is' if len(unproven) == 1 else 'are'} already captured without a heap allocation"
        )
    copy = Edit.insert(src, stmt.start_byte, f"{listed} := {listed}; ")  # gofmt puts it on a line of its own
    out.append(
        Proposal(
            codemod=NAME,
            package=ctx.package.import_path,
            path=src.path,
            line=line,
            function=function,
            edits=(copy,),
            targets=tuple(targets),
            rationale=rationale,
            pattern="loopvar",
            if_unproven=if_unproven,
        )
    )
    return out


def _closure(stmt: Node | None) -> Node | None:
    """The func literal a go or defer statement calls."""
    call = stmt.named_children[0] if stmt is not None and stmt.type in ("go_statement", "defer_statement") else None
    function = call.child_by_field_name("function") if call is not None else None
    return function if function is not None and function.type == "func_literal" else None


def _loop_variables(src: SourceFile, closure: Node, outer: Node) -> dict[str, Binding]:
    """The variables declared by a range or for clause of the enclosing function that the closure names."""
    found: dict[str, Binding] = {}
    for ident in walk(closure.child_by_field_name("body") or closure):
        name = src.text(ident)
        if ident.type != "identifier" or name in found:
            continue
        binding = declared(src, name, ident)
        if binding is None:
            continue
        clause = binding.node.parent if binding.node.type == "short_var_declaration" else binding.node
        loop_clause = clause is not None and clause.type in ("range_clause", "for_clause")
        if loop_clause and _inside(binding.node, outer) and not _inside(binding.node, closure):
            found[name] = binding
    return found


def _problem(src: SourceFile, stmt: Node, closure: Node, outer: Node, name: str, binding: Binding, verb: str) -> str:
    """Why the closure must keep sharing the variable: it writes it, or something changes it once it runs."""
    # A loop around the statement that does not declare the variable runs its writes again after the closure starts.
    loops, node = [], stmt.parent
    while node is not None and node.id != outer.id:
        if node.type == "for_statement" and not _inside(binding.node, node):
            loops.append(node)
        node = node.parent
    for use in (*walk(closure), *walk(outer)):  # the closure's own writes are the first reason to give
        if use.type != "identifier" or src.text(use) != name:
            continue
        found = declared(src, name, use)
        how = _write(src, use, binding) if found is not None and found.node.id == binding.node.id else ""
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


def _write(src: SourceFile, use: Node, binding: Binding) -> str:
    """How this use may change the variable ("assigns to", ...), or "" when it only reads it."""
    if binding.node.start_byte <= use.start_byte < binding.node.end_byte:
        return ""  # the declaration itself
    typ = binding.type
    indirect = typ is not None and (typ in BASIC or typ in ("error", "any") or typ.startswith(_INDIRECT))
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
    if parent.type == "call_expression" and place.id != use.id:
        return "calls a method on"
    return ""


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _inside(node: Node, within: Node) -> bool:
    return within.start_byte <= node.start_byte and node.end_byte <= within.end_byte
