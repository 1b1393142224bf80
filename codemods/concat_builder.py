"""Build a string that a loop concatenates piece by piece in a strings.Builder.

Each `s += p` copies everything built so far into a new string, one allocation per iteration
(n-1 for n pieces); a strings.Builder appends into one buffer that grows by doubling, about log2
of the final length in allocations, and its String method adds none. The compiler says nothing of
`s += p` (only of the spelling `s = s + p`, as `s + p escapes to heap`), so every file is read and
the run-time count proves the rewrite where no escape line does. The variable must be a `string`
as go/types gives it (a named string type would become a string), declared just before the loop,
which only adds to it; it is read only after the loop, where `s := sb.String()` declares it again.
The pieces are written in the order the concatenation evaluated them, so the text is the same.
The builder is `sb` or `<s>Builder`, a name nothing in the function spells and no other rewrite
of this run adds to it (two loops in one function get two builders).

Before:  s := ""; for _, p := range parts { s += p }; return s
After:   var sb strings.Builder; for _, p := range parts { sb.WriteString(p) }; s := sb.String(); return s
"""

from __future__ import annotations

import re

from goescape.engine.codemod import Edit, Match, Pass, Pattern
from goescape.engine.parsing import Node, SourceFile, enclosing, walk

NAME = "concat-builder"
# The compiler reports nothing for this pattern itself, so every file of the package is read.
ANCHORED = False
PATTERNS = (Pattern("builder"),)  # s := ""; for ... { s += p } → a strings.Builder written per piece
QUERY = """
(short_var_declaration left: (expression_list . (identifier) @var .) right: (expression_list . (_) @value .)) @decl
(var_declaration . (var_spec . name: (identifier) @var . type: (_) @type .) .) @decl
(var_declaration . (var_spec . name: (identifier) @var . type: (_)? @type . value: (expression_list . (_) @value .) .) .) @decl
"""


def propose(match: Match, pass_: Pass) -> None:
    src, decl, var, value = match.src, match.one("decl"), match.one("var"), match.one("value")
    if decl is None or var is None or decl.parent is None or decl.parent.type != "statement_list":
        return
    typ = pass_.type_of(src, var)
    if typ is None or typ.text != "string":
        return  # not a string: a named string type would change type as the Builder's String()
    name, siblings = src.text(var), decl.parent.named_children
    rest = siblings[[s.id for s in siblings].index(decl.id) + 1 :]
    first = next((i for i, s in enumerate(rest) if _named(src, s, name)), len(rest))
    loop = rest[first] if first < len(rest) and rest[first].type == "for_statement" else None
    adds = [(n, pieces) for n in walk(loop) if (pieces := _added(src, n, name)) is not None] if loop else []
    if loop is None or not adds or not any(_named(src, s, name) for s in rest[first + 1 :]):
        return  # the first use is not a loop adding to the string, or nothing reads it after
    chains = {c.id for stmt, _ in adds for c in walk(stmt) if c.type == "binary_expression"}
    targets = [f for f in pass_.facts_within(src, loop) if _at_operator(src, f.offset, chains)]

    # The statements' own mentions of the name, not those in what they add, which read it.
    allowed = {n.id for stmt, pieces in adds for n in _named(src, stmt, name) if n.end_byte <= pieces[0].start_byte}
    if other := [n for n in _named(src, loop, name) if n.id not in allowed]:
        why = f"the loop reads {name} besides adding to it (line {src.line_of(other[0].start_byte)})"
        return pass_.skip(src, decl, why, targets)
    closures = [s for s, _ in adds if (f := enclosing(s, "func_literal")) and f.start_byte > loop.start_byte]
    if closures:
        why = f"a closure adds to {name} (line {src.line_of(closures[0].start_byte)}), maybe after the loop"
        return pass_.skip(src, decl, why, targets)
    if problem := pass_.import_problem(src, decl, "strings"):
        return pass_.skip(src, decl, problem, targets)
    choices = ["sb", f"{name}Builder"] if len(name) == 1 else [f"{name}Builder", "sb"]
    builder = pass_.new_local(src, decl, choices)
    if builder is None:
        return pass_.skip(src, decl, f"both sb and {name}Builder are names already used here", targets)

    # A statement split into several lines moves the escapes inside its pieces to lines the verifier
    # cannot pair with the old ones; they are the same allocations, not new ones.
    split = [f for stmt, pieces in adds if len(pieces) > 1 for f in pass_.facts_within(src, stmt)]
    moved = [f"^{re.escape(f.expr)}$" for f in split if f not in targets]
    init = src.text(value) if value is not None and src.text(value) not in ('""', "``") else ""
    edits = [Edit.replace(src, decl, f"var {builder} strings.Builder")]
    if init:
        edits.append(Edit.insert(src, decl.end_byte, f"\n{_indent(src, decl)}{builder}.WriteString({init})"))
    for stmt, pieces in adds:
        calls = (f"{builder}.WriteString({src.text(p)})" for p in pieces)
        edits.append(Edit.replace(src, stmt, f"\n{_indent(src, stmt)}".join(calls)))
    edits.append(Edit.insert(src, loop.end_byte, f"\n{_indent(src, loop)}{name} := {builder}.String()"))
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


def _named(src: SourceFile, node: Node, name: str) -> list[Node]:
    return [n for n in walk(node) if n.type == "identifier" and src.text(n) == name]


def _indent(src: SourceFile, node: Node) -> str:
    start = src.data.rfind(b"\n", 0, node.start_byte) + 1
    indent = src.data[start : node.start_byte].decode()
    return indent if not indent.strip() else ""  # gofmt indents what follows code on its line
