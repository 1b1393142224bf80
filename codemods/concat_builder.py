"""Build a string that a loop concatenates piece by piece in a strings.Builder.

Each `s += p` copies everything built so far into a new string, one allocation per iteration
(n-1 for n pieces); a strings.Builder appends into one buffer that grows by doubling, about log2
of the final length in allocations, and its String method adds none. The compiler says nothing of
`s += p` (only of the spelling `s = s + p`, as `s + p escapes to heap`), so every file is read and
the run-time count proves the rewrite where no escape line does. The variable must be a `string`
as go/types gives it (a named string type would become a string), and the loop the first statement
after its declaration to use it: declared alone, in a `var ( ... )` group (the builder takes its
place there) or beside other names (which keep their declaration), or a parameter or named result
(a named result only where no bare return in the loop and no deferred call before it can return it
half built). The loop only adds to it, and it is read only after the loop, where `s := sb.String()`
declares it again (`s = sb.String()` assigns a parameter or result).
The pieces are written in the order the concatenation evaluated them, so the text is the same.
The builder is `sb` or `<s>Builder`, a name nothing in the function spells and no other rewrite
of this run adds to it (two loops in one function get two builders).

Before:  s := ""; for _, p := range parts { s += p }; return s
After:   var sb strings.Builder; for _, p := range parts { sb.WriteString(p) }; s := sb.String(); return s
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from goescape.engine.codemod import Match, Pattern
from goescape.engine.edits import Edit
from goescape.engine.facts import EscapeFact
from goescape.engine.parsing import FUNCTION_TYPES, Node, SourceFile, enclosing, walk
from goescape.engine.passes import Pass

NAME = "concat-builder"
# The compiler reports nothing for this pattern itself, so every file of the package is read.
ANCHORED = False
PATTERNS = (Pattern("builder"),)  # s := ""; for ... { s += p } → a strings.Builder written per piece
QUERY = """
(short_var_declaration left: (expression_list (identifier) @var)) @decl
(var_spec name: (identifier) @var) @decl
(parameter_declaration name: (identifier) @var) @decl
"""


def propose(match: Match, pass_: Pass) -> None:
    src, decl, var = match.src, match.one("decl"), match.one("var")
    found = _scope(pass_, src, decl) if decl is not None and var is not None else None
    if decl is None or var is None or found is None:
        return
    stmt, block, at = found
    name = src.text(var)
    if block.last_loop_adding.get(name, -1) <= at:
        return  # no loop after the declaration adds to anything of this name
    rest = block.statements[at + 1 :]
    typ, obj = pass_.type_of(src, var), pass_.object_of(src, var)
    if typ is None or typ.text != "string" or obj is None or obj.offset != var.start_byte:
        return  # not a string (a named string type would change type), or an `s, err :=` that only assigns s
    used = sorted(u.start for u in pass_.uses(obj) if u.path == src.path)
    first = next((i for i, s in enumerate(rest) if _within(s, used)), None)
    if first is None:
        return
    loop = rest[first] if rest[first].type == "for_statement" else None
    adds = [(a, pieces) for a, pieces in _adds(src, loop, name) if a.start_byte in used] if loop else []
    if loop is None or not adds:  # say why only when a later loop adds to this very variable
        later = ((s, a) for s in rest[first + 1 :] if s.type == "for_statement" for a in _adds(src, s, name))
        if hit := next(((s, a) for s, a in later if a[0].start_byte in used), None):
            why = f"{name} is used between its declaration and the loop that adds to it"
            line = src.line_of(rest[first].start_byte)
            return pass_.skip(src, decl, f"{why} (line {line})", _targets(src, pass_, hit[0], [hit[1]]))
        return
    targets = _targets(src, pass_, loop, adds)
    result = _is_result(decl)
    if not result and not [u for u in used if u >= loop.end_byte]:
        return  # nothing reads it after the loop

    # The statements' own mentions of the name, not those in what they add, which read it.
    allowed = {u for a, pieces in adds for u in used if a.start_byte <= u < pieces[0].start_byte}
    if other := [u for u in used if loop.start_byte <= u < loop.end_byte and u not in allowed]:
        why = f"the loop reads {name} besides adding to it (line {src.line_of(other[0])})"
        return pass_.skip(src, decl, why, targets)
    closures = [a for a, _ in adds if (f := enclosing(a, "func_literal")) and f.start_byte > loop.start_byte]
    if closures:
        why = f"a closure adds to {name} (line {src.line_of(closures[0].start_byte)}), maybe after the loop"
        return pass_.skip(src, decl, why, targets)
    if why := _leaves_early(src, loop, rest[: first + 1], name, result):
        return pass_.skip(src, decl, why, targets)
    if problem := pass_.import_problem(src, loop, "strings"):
        return pass_.skip(src, decl, problem, targets)
    choices = ["sb", f"{name}Builder"] if len(name) == 1 else [f"{name}Builder", "sb"]
    builder = pass_.new_local(src, loop, choices)
    if builder is None:
        return pass_.skip(src, decl, f"both sb and {name}Builder are names already used here", targets)

    if stmt is None:  # a parameter or named result: the builder is declared just before the loop
        head = f"var {builder} strings.Builder\n" + ("" if result else f"{builder}.WriteString({name})\n")
        edits = [Edit.insert(src, loop.start_byte, head.replace("\n", f"\n{_indent(src, loop)}"))]
    elif isinstance(taken := _take_out(src, pass_, decl, stmt, var, used, builder), str):
        return pass_.skip(src, decl, taken, targets)
    else:
        edits = taken
    # A statement split into several lines moves the escapes inside its pieces to lines the verifier
    # cannot pair with the old ones; they are the same allocations, not new ones.
    split = [f for add, pieces in adds if len(pieces) > 1 for f in pass_.facts_within(src, add)]
    moved = [f"^{re.escape(f.expr)}$" for f in split if f not in targets]
    for add, pieces in adds:
        calls = (f"{builder}.WriteString({src.text(p)})" for p in pieces)
        edits.append(Edit.replace(src, add, f"\n{_indent(src, add)}".join(calls)))
    assign = "=" if stmt is None else ":="
    edits.append(Edit.insert(src, loop.end_byte, f"\n{_indent(src, loop)}{name} {assign} {builder}.String()"))
    pass_.report(
        src,
        decl,
        edits,
        targets=targets,
        rationale="a strings.Builder grows one buffer instead of copying the whole string on every +=",
        pattern="builder",
        add_imports=["strings"],
        # The Builder's buffer is grown by an append inlined from WriteString, beside its copy-check panic text.
        allowed_new=[r"^append$", r'^"strings: illegal use', *moved],
        proof="escape" if targets else "runtime",
        if_unproven="the compiler does not report `s += p` at all; fewer allocations prove the rewrite",
    )


@dataclass(frozen=True)
class _Block:
    """A statement list, and for each name the index of the last loop in it that adds to that name."""

    statements: list[Node]
    index: dict[int, int]  # a statement's start byte → its index
    last_loop_adding: dict[str, int]


def _blocks(pass_: Pass) -> dict[tuple[Path, int, int], _Block]:
    return {}


def _block(pass_: Pass, src: SourceFile, statements: Node) -> _Block:
    """The block of a statement list, read once per pass: each declaration in it would walk every
    loop after it otherwise, which a long function makes quadratic."""
    key = (src.path, statements.start_byte, statements.end_byte)
    cache = pass_.once(_blocks)
    if key not in cache:
        nodes = statements.named_children
        last: dict[str, int] = {}
        for i, s in enumerate(nodes):
            if s.type != "for_statement":
                continue
            for n in walk(s):
                left = n.child_by_field_name("left") if n.type == "assignment_statement" else None
                if left is not None and _added(src, n, src.text(left)) is not None:
                    last[src.text(left)] = i
        cache[key] = _Block(nodes, {s.start_byte: i for i, s in enumerate(nodes)}, last)
    return cache[key]


def _scope(pass_: Pass, src: SourceFile, decl: Node) -> tuple[Node | None, _Block, int] | None:
    """The statement declaring the variable, its block and its index there (the statements after it
    are the rest); for a parameter, None, the body and -1."""
    if decl.type == "parameter_declaration":
        func = decl.parent.parent if decl.parent is not None else None
        body = func.child_by_field_name("body") if func is not None and func.type in FUNCTION_TYPES else None
        stmts = next((c for c in body.named_children if c.type == "statement_list"), None) if body else None
        return (None, _block(pass_, src, stmts), -1) if stmts is not None else None
    stmt = decl if decl.type == "short_var_declaration" else enclosing(decl, "var_declaration")
    if stmt is None or stmt.parent is None or stmt.parent.type != "statement_list":
        return None
    block = _block(pass_, src, stmt.parent)
    return stmt, block, block.index[stmt.start_byte]


def _take_out(
    src: SourceFile, pass_: Pass, decl: Node, stmt: Node, var: Node, used: list[int], builder: str
) -> list[Edit] | str:
    """Edits that take the string out of its declaration and declare the builder in its place, or why not."""
    name, short = src.text(var), decl.type == "short_var_declaration"
    left, listed = decl.child_by_field_name("left"), decl.child_by_field_name("right" if short else "value")
    names = left.named_children if short and left is not None else decl.children_by_field_name("name")
    values, i = listed.named_children if listed is not None else [], [n.id for n in names].index(var.id)
    if values and len(values) != len(names):
        return f"{name} is declared with the other results of {src.text(values[0])}"
    group = decl.parent if decl.parent is not None and decl.parent.type == "var_spec_list" else None
    later = (
        [s for s in group.named_children if s.type == "var_spec" and s.start_byte > decl.start_byte] if group else []
    )
    if readers := [u for s in later for u in used if s.start_byte <= u < s.end_byte]:
        return f"a later declaration of the group reads {name} (line {src.line_of(readers[0])})"
    init = values[i] if values else None
    after = [*values[i + 1 :], *(v for s in later if (vs := s.child_by_field_name("value")) for v in vs.named_children)]
    constant = init is not None and (t := pass_.type_of(src, init)) is not None and t.constant is not None
    if init is not None and after and not constant:
        return f"{name}'s first value {src.text(init)} would be computed after {src.text(after[0])}, which follows it"
    own = f"{builder} strings.Builder"
    write = (
        [f"{builder}.WriteString({src.text(init)})"] if init is not None and src.text(init) not in ('""', "``") else []
    )
    if len(names) == 1:  # the builder takes the string's place, in its group if it has one
        edits = [Edit.replace(src, decl, own) if group else Edit.replace(src, stmt, f"var {own}")]
    else:  # the other names keep their declaration; the builder gets its own line after it
        edits = [_drop(src, names, i), *([_drop(src, values, i)] if values else [])]
        if short and not [n for j, n in enumerate(names) if j != i and _declares(src, pass_, n)]:
            edits += [Edit.replace(src, c, "=") for c in decl.children if c.type == ":="]  # := would declare nothing
        if group:
            edits.append(Edit.insert(src, decl.end_byte, f"\n{_indent(src, decl)}{own}"))
        else:
            write.insert(0, f"var {own}")
    if write:
        edits.append(Edit.insert(src, stmt.end_byte, "".join(f"\n{_indent(src, stmt)}{w}" for w in write)))
    return edits


def _declares(src: SourceFile, pass_: Pass, ident: Node) -> bool:
    """Whether this identifier of a := declares its variable, rather than assigning one declared before."""
    obj = pass_.object_of(src, ident)
    return obj is not None and obj.offset == ident.start_byte


def _drop(src: SourceFile, items: list[Node], i: int) -> Edit:
    """Delete item i of a comma-separated list of two or more, with the comma that joins it."""
    if i + 1 < len(items):
        return Edit(src.path, items[i].start_byte, items[i + 1].start_byte, b"")
    return Edit(src.path, items[i - 1].end_byte, items[i].end_byte, b"")


def _is_result(decl: Node) -> bool:
    """Whether the declaration is of a named result (a parameter_declaration in the result list)."""
    listed = decl.parent
    func = listed.parent if listed is not None else None
    result = func.child_by_field_name("result") if func is not None else None
    return decl.type == "parameter_declaration" and result is not None and listed is not None and result.id == listed.id


def _leaves_early(src: SourceFile, loop: Node, before: list[Node], name: str, result: bool) -> str:
    """Why the loop may end without reaching the line that takes the string from the builder, or ""."""
    if jump := next((n for n in walk(loop) if n.type == "goto_statement"), None):
        return f"a goto in the loop (line {src.line_of(jump.start_byte)}) may jump past where {name} is built"
    func = enclosing(loop, *FUNCTION_TYPES)
    bare = [n for n in walk(loop) if n.type == "return_statement" and not n.named_children]
    if result and func and (bare := [n for n in bare if (f := enclosing(n, *FUNCTION_TYPES)) and f.id == func.id]):
        return f"a bare return in the loop (line {src.line_of(bare[0].start_byte)}) returns {name} as built so far"
    defer = next((n for s in before for n in walk(s) if n.type == "defer_statement"), None)
    if result and defer is not None:
        why = f"a deferred call (line {src.line_of(defer.start_byte)}) may recover a panic in the loop"
        return f"{why} and return {name} as built so far"
    return ""


def _adds(src: SourceFile, loop: Node, name: str) -> list[tuple[Node, list[Node]]]:
    """Each statement of the loop that adds to `name`, with the pieces it adds."""
    return [(n, pieces) for n in walk(loop) if (pieces := _added(src, n, name)) is not None]


def _added(src: SourceFile, node: Node, name: str) -> list[Node] | None:
    """The pieces `name += a + b` or `name = name + a + b` adds, when that is the statement `node` is."""
    left, op, right = (node.child_by_field_name(f) for f in ("left", "operator", "right"))
    if node.type != "assignment_statement" or left is None or op is None or right is None:
        return None
    if src.text(left) != name or len(right.named_children) != 1 or right.named_children[0].type == "comment":
        return None
    pieces = _pieces(right.named_children[0])
    if op.type == "+=":
        return pieces
    head = pieces[0]
    return (
        pieces[1:]
        if op.type == "=" and len(pieces) > 1 and head.type == "identifier" and src.text(head) == name
        else None
    )


def _pieces(expr: Node) -> list[Node]:
    """The operands of a left-associated chain `a + b + c`; a string sum has only string operands."""
    op, left, right = (expr.child_by_field_name(f) for f in ("operator", "left", "right"))
    if expr.type == "binary_expression" and op is not None and op.type == "+" and left and right:
        return [*_pieces(left), right]
    return [expr]


def _at_operator(src: SourceFile, offset: int, chains: set[int]) -> bool:
    """Whether the compiler's position (a `+` of a concatenation) is one of the chains rewritten away."""
    node = src.root.descendant_for_byte_range(offset, offset + 1)
    return node is not None and node.parent is not None and node.type == "+" and node.parent.id in chains


def _within(node: Node, offsets: list[int]) -> bool:
    return any(node.start_byte <= o < node.end_byte for o in offsets)


def _targets(src: SourceFile, pass_: Pass, loop: Node, adds: list[tuple[Node, list[Node]]]) -> list[EscapeFact]:
    """The compiler's escapes of the concatenations the adds make, which the rewrite takes away."""
    chains = {c.id for a, _ in adds for c in walk(a) if c.type == "binary_expression"}
    return [f for f in pass_.facts_within(src, loop) if _at_operator(src, f.offset, chains)]


def _indent(src: SourceFile, node: Node) -> str:
    start = src.data.rfind(b"\n", 0, node.start_byte) + 1
    indent = src.data[start : node.start_byte].decode()
    return indent if not indent.strip() else ""  # gofmt indents what follows code on its line
