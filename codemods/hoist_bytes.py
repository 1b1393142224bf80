"""Convert a constant string to bytes once before a loop, not on every pass through it.

`for ... { w.Write([]byte("\\n")) }` copies the constant into a new byte slice on each iteration,
and when the slice escapes (`([]byte)("\\n") escapes to heap`: an io.Writer's Write may keep it, as
far as the compiler knows) every copy is a heap allocation. One `newline := []byte("\\n")` before the
outermost loop of the function that runs the conversion makes the one copy per call that all
iterations share. Sharing is safe only where nothing writes to the bytes or keeps them, so each
conversion must be passed straight to a reader: an io.Writer's Write (whose contract says it must
not modify the slice, even temporarily, nor retain it), append's spread argument, copy's source,
or one of bytes' comparisons; one that is assigned, returned, stored, sliced or passed to any other
function is left alone with that reason. A conversion that does not escape is left alone too: Go
1.22+ reads the constant itself there (`zero-copy string->[]byte conversion`) or copies it on the
stack. Equivalent for every input, trusting Write's contract as io.WriteString does; a loop that
runs zero times now costs the one conversion it did not make before, which changes only cost.

Before:  for _, l := range lines { io.WriteString(w, l); w.Write([]byte("\\n")) }
After:   newline := []byte("\\n"); for _, l := range lines { io.WriteString(w, l); w.Write(newline) }
"""

from __future__ import annotations

import re

from goescape.engine.codemod import Match, Pattern
from goescape.engine.edits import Edit
from goescape.engine.parsing import FUNCTION_TYPES, Node, SourceFile, walk
from goescape.engine.passes import Pass

NAME = "hoist-bytes"
PATTERNS = (Pattern("hoist"),)  # for ... { w.Write([]byte("c")) } → b := []byte("c"); for ... { w.Write(b) }
QUERY = """
(type_conversion_expression type: (slice_type element: (type_identifier) @byte) (#match? @byte "^(byte|uint8)$")) @conv
"""

# Functions that read a byte slice argument and neither write it nor keep it.
_READERS = {f"bytes.{f}" for f in ("Equal", "Compare", "EqualFold", "HasPrefix", "HasSuffix", "Contains")}
_READERS |= {f"bytes.{f}" for f in ("Index", "LastIndex", "Count")}
_HOW = {
    "short_var_declaration": "assigned to a variable",
    "assignment_statement": "assigned",
    "return_statement": "returned",
    "slice_expression": "sliced",
    "index_expression": "indexed",
    "literal_element": "stored in a composite literal",
    "keyed_element": "stored in a composite literal",
    "send_statement": "sent on a channel",
}

# Names for constants without a word in them, by how they start.
_MARKS = {"\\n": "newline", "\\r\\n": "crlfBytes", "\\t": "tabBytes", ",": "commaBytes", ";": "semicolonBytes"}
_MARKS |= {":": "colonBytes", " ": "spaceBytes", "=": "equalsBytes", "|": "pipeBytes", "/": "slashBytes"}


def _loop(conv: Node) -> Node | None:
    """The outermost loop of the conversion's own function whose body runs it on every iteration."""
    outermost, node = None, conv.parent
    while node is not None and node.type not in FUNCTION_TYPES:
        body = node.child_by_field_name("body") if node.type == "for_statement" else None
        if body is not None and body.start_byte <= conv.start_byte < body.end_byte:
            outermost = node
        node = node.parent
    return outermost


def _candidate(pass_: Pass, src: SourceFile, conv: Node) -> bool:
    """A conversion of a constant string to bytes that the compiler reports escaping."""
    value = conv.child_by_field_name("operand")
    kind = pass_.type_of(src, value) if value is not None else None
    return kind is not None and kind.constant is not None and kind.string and bool(_escapes(pass_, src, conv))


def _escapes(pass_: Pass, src: SourceFile, conv: Node) -> list[str]:
    return [f.expr for f in pass_.facts_within(src, conv) if f.expr.startswith("([]")]


def _problem(pass_: Pass, src: SourceFile, conv: Node, before: Node) -> str:
    """Why this conversion's bytes may not be shared by every iteration, or ""."""
    value = conv.child_by_field_name("operand")
    for ident in (n for n in walk(value) if n.type == "identifier") if value is not None else ():
        here, there = pass_.object_of(src, ident), pass_.lookup(src, before, src.text(ident))
        if here is None or there is None or here.key != there.key:
            return f"{src.text(ident)} means something else before the loop"
    node, parent = conv, conv.parent
    while parent is not None and parent.type in ("parenthesized_expression", "variadic_argument"):
        node, parent = parent, parent.parent
    call = parent.parent if parent is not None and parent.type == "argument_list" else None
    if parent is None or call is None or call.type != "call_expression":
        holder = parent.parent if parent is not None and parent.type == "expression_list" else parent
        how = _HOW.get(holder.type if holder is not None else "", "kept")
        return f"the bytes are {how}, where they could be written to or kept"
    callee, args = call.child_by_field_name("function"), parent.named_children
    index, name = args.index(node), src.text(callee) if callee is not None else ""
    spread = node.type == "variadic_argument"
    if callee is not None and callee.type == "identifier":
        builtin = pass_.object_of(src, callee)
        if builtin is not None and builtin.universe and name in ("append", "copy"):
            if (name, index, spread) in (("append", 1, True), ("copy", 1, False)):
                return ""
            if name == "append":
                return "append may write into the spare capacity of its first argument, and keeps the others"
    elif callee is not None and callee.type == "selector_expression":
        operand, field = callee.child_by_field_name("operand"), callee.child_by_field_name("field")
        method = src.text(field) if field is not None else ""
        writer = pass_.type_of(src, operand) if operand is not None else None
        if method == "Write" and len(args) == 1 and writer is not None and "io.Writer" in writer.implements:
            return ""
        pkg = pass_.object_of(src, operand) if operand is not None and operand.type == "identifier" else None
        if pkg is not None and f"{pkg.imported}.{method}" in _READERS:
            return ""
    known = "an io.Writer's Write, append's spread, copy's source and bytes' comparisons"
    return f"the bytes are passed to {name}, which may write to them or keep them (known to only read: {known})"


def _names(src: SourceFile, conv: Node) -> list[str]:
    """`newline` for "\\n", `sepBytes` for a constant named sep, `okBytes` for "ok\\r\\n", `commaBytes` for ", "."""
    value = conv.child_by_field_name("operand")
    text = src.text(value) if value is not None else ""
    body = text[1:-1] if value is not None and value.type.endswith("string_literal") else ""
    words = re.findall(r"[A-Za-z][a-z]*|[0-9]+", re.sub(r"\\.", " ", body))[:2]
    word = "".join(w[:1].upper() + w[1:].lower() for w in words)
    if value is not None and value.type in ("identifier", "selector_expression"):
        base = text.rsplit(".", 1)[-1] + "Bytes"
    elif word[:1].isalpha():
        base = word[:1].lower() + word[1:] + "Bytes"
    else:
        base = next((name for mark, name in _MARKS.items() if body.startswith(mark)), "constBytes")
    return [base, *(f"{base}{i}" for i in range(2, 10))]


def propose(match: Match, pass_: Pass) -> None:
    src, conv = match.src, match.one("conv")
    if conv is None or not _candidate(pass_, src, conv) or (loop := _loop(conv)) is None:
        return
    before = loop.parent if loop.parent is not None and loop.parent.type == "labeled_statement" else loop
    if why := _problem(pass_, src, conv, before):
        return pass_.skip(src, conv, why, pass_.facts_within(src, conv))
    # Every conversion the loop hoists moves in one rewrite, the first one's: they insert at one place.
    group = [c for c in walk(loop) if c.type == "type_conversion_expression" and _loop(c) == loop]
    group = [c for c in group if _candidate(pass_, src, c) and not _problem(pass_, src, c, before)]
    if group[0] != conv:
        return
    indent = src.data[src.data.rfind(b"\n", 0, before.start_byte) + 1 : before.start_byte].decode()
    if indent.strip():
        return pass_.skip(src, conv, "the loop does not start its own line", pass_.facts_within(src, conv))
    names: dict[str, str] = {}
    for c in group:
        if src.text(c) not in names and (name := pass_.new_local(src, before, _names(src, c))) is not None:
            names[src.text(c)] = name
    group = [c for c in group if src.text(c) in names]
    if not group:
        return pass_.skip(
            src, conv, "every name for the bytes is taken in this function", pass_.facts_within(src, conv)
        )
    declared = "".join(f"{name} := {text}\n{indent}" for text, name in names.items())
    edits = [Edit.insert(src, before.start_byte, declared), *(Edit.replace(src, c, names[src.text(c)]) for c in group)]
    pass_.report(
        src,
        conv,
        edits,
        targets=[f for c in group for f in pass_.facts_within(src, c) if f.expr.startswith("([]")],
        rationale="converted once before the loop, the bytes are one allocation per call instead of one per iteration",
        pattern="hoist",
        # The one conversion before the loop still escapes, as every one in the loop did.
        allowed_new=sorted({f"^{re.escape(e)}$" for c in group for e in _escapes(pass_, src, c)}),
    )
