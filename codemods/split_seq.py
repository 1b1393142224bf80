"""Range over strings.SplitSeq and FieldsSeq instead of the slices Split and Fields build.

`for _, p := range strings.Split(s, sep)` allocates a []string only to walk it once; the
iterators of Go 1.24 (`SplitSeq`, `SplitAfterSeq`, `FieldsSeq`) yield the same substrings one at
a time and, inlined with the loop body on Go 1.25+, allocate nothing (on Go 1.24 the iterator's
closures cost more than the slice did, which calibration finds). The compiler says nothing of the
slice, which strings.genSplit allocates out of sight, so fewer allocations at run time prove it.
Only a range with no index variable is rewritten. A string cannot change, so its pieces are the
same for every input. Bytes can: the iterator reads them only as it reaches them, where Split read
them all first, and it leaves the last piece no spare capacity, where Split left it the buffer's.
So for bytes the loop body must be seen to write none and to wait on no goroutine that might: it
calls only conversions, builtins that fill no byte slice and the functions of bytes, strings,
strconv, unicode and unicode/utf8 that fill no buffer, uses no channel, and assigns to no element
but a map's. Nor may it see a piece's capacity: each piece, and each slice of one, goes no further
than the loop's own variables before it is copied out (into a length, a byte, a string), and never
into cap, a full slice expression `p[i:j:k]`, a return, a closure or anything declared outside.
A slice bound to a name that go/types finds used only by the range, in the same block, is the call
ranged over: `parts := strings.Split(s, ","); for _, p := range parts` loses the declaration. Where
statements lie between the two, each operand of the split must be a constant or a local variable
assigned in none of them, in no closure and through no pointer, and for bytes they must write no
bytes, as the loop body must not; so the pieces are the ones the declaration would have split.

Before:  for _, p := range strings.Split(s, ",") { n += len(p) }
After:   for p := range strings.SplitSeq(s, ",") { n += len(p) }
"""

from __future__ import annotations

import re

from goescape.engine.codemod import Match, Pattern
from goescape.engine.edits import Edit
from goescape.engine.gotypes import GoObject, GoType
from goescape.engine.parsing import FUNCTION_TYPES, Node, SourceFile, enclosing, node_at, top_level, walk
from goescape.engine.passes import Pass
from goescape.engine.toolchain import go_line_at_least

NAME = "split-seq"
# The compiler reports nothing for this pattern itself, so every file of the package is read.
ANCHORED = False
PATTERNS = (
    Pattern("splitseq"),  # range strings.Split(s, sep) → range strings.SplitSeq(s, sep)
    Pattern(
        "bytesseq",
        differs="differs when the loop body writes the bytes being split, which bytes.SplitSeq reads only as "
        "it reaches them, or appends to the last piece, which bytes.Split leaves the buffer's spare capacity",
    ),
)
QUERY = """
(for_statement
  (range_clause
    right: (call_expression
      function: (selector_expression operand: (identifier) @pkg field: (field_identifier) @fn) @callee
      arguments: (argument_list) @args))
  (#match? @pkg "^(strings|bytes)$")
  (#match? @fn "^(Split|SplitAfter|Fields)$")) @loop
(short_var_declaration
  left: (expression_list . (identifier) @name .)
  right: (expression_list . (call_expression
      function: (selector_expression operand: (identifier) @pkg field: (field_identifier) @fn) @callee
      arguments: (argument_list) @args) .)
  (#match? @pkg "^(strings|bytes)$")
  (#match? @fn "^(Split|SplitAfter|Fields)$")) @decl
"""

_BUILTINS = {"len", "cap", "min", "max", "append", "copy", "clear", "delete", "panic", "print", "println"}
_FILLS = {"append", "copy", "clear"}  # builtins that write their first argument
_READERS = {"bytes", "strings", "strconv", "unicode", "unicode/utf8"}  # besides their Append* and EncodeRune
# What a piece's value passes through on its way to being copied out, dropped or kept.
_CONTAINERS = ("argument_list", "literal_value", "literal_element", "keyed_element")
_CLIMB = (
    *_CONTAINERS,
    *("call_expression", "selector_expression", "index_expression", "slice_expression", "unary_expression"),
    *("binary_expression", "composite_literal", "type_assertion_expression", "parenthesized_expression"),
    "type_conversion_expression",
)
_STORES = ("assignment_statement", "short_var_declaration", "var_spec", "range_clause")


def propose(match: Match, pass_: Pass) -> None:
    src, pkg_node, fn = match.src, match.one("pkg"), match.text("fn")
    callee, args = match.one("callee"), match.one("args")
    if pkg_node is None or callee is None or args is None:
        return
    pkg = pass_.object_of(src, pkg_node)
    if pkg is None or pkg.imported not in ("strings", "bytes"):
        return
    pkg_name, decl, name, loop = src.text(pkg_node), match.one("decl"), match.one("name"), match.one("loop")
    edits = [Edit.replace(src, callee, f"{pkg_name}.{fn}Seq")]
    if decl is not None and name is not None:
        if (named := _named(pass_, src, decl, name)) is None:
            return
        loop, edits, operand = named
        edits.append(Edit.replace(src, operand, f"{pkg_name}.{fn}Seq{src.text(args)}"))
    clause = next((c for c in loop.named_children if c.type == "range_clause"), None) if loop is not None else None
    body = loop.child_by_field_name("body") if loop is not None else None
    if loop is None or clause is None or body is None:
        return
    left = clause.child_by_field_name("left")
    names = [src.text(n) for n in left.named_children] if left is not None else []
    if names and (len(names) != 2 or names[0] != "_"):
        return pass_.skip(src, loop, f"the loop uses the index, which {pkg_name}.{fn}Seq does not yield")
    if not go_line_at_least(pass_.package.go_line, 1, 24):
        return pass_.skip(src, loop, f"{pkg_name}.{fn}Seq needs go 1.24 in go.mod")
    if decl is not None and (why := _changed_between(pass_, src, decl, loop, args, pkg.imported == "bytes")):
        return pass_.skip(src, loop, why)
    if pkg.imported == "bytes" and (write := _first_write(pass_, src, body)) is not None:
        why = f"the loop body may write bytes through {src.text(write)} (line {src.line_of(write.start_byte)})"
        return pass_.skip(src, loop, f"{why}: bytes.{fn}Seq reads them as it goes and leaves no spare capacity")
    if pkg.imported == "bytes" and (leak := _piece_leak(pass_, src, loop, left)) is not None:
        why = f"the loop body asks a piece's capacity or keeps a piece past its iteration ({src.text(leak)}, line "
        why += f"{src.line_of(leak.start_byte)}): bytes.{fn} leaves the last piece the buffer's spare capacity, {fn}Seq none"
        return pass_.skip(src, loop, why)
    proven = (
        "the loop body fills no buffer, uses no channel, assigns to no element but a map's, "
        "and keeps no piece past its iteration nor asks its capacity"
    )
    if left is not None:
        edits.append(Edit.replace(src, left, names[1]))
    pass_.report(
        src,
        loop,
        edits,
        targets=[],
        # The body becomes a closure inlined at each of the iterator's yields, so the compiler reports
        # the loop's own allocations again, at the for keyword or the moved variable, once per yield.
        allowed_new=sorted({f"^{re.escape(f.expr)}$" for f in pass_.facts_within(src, loop)}),
        rationale=f"{pkg_name}.{fn}Seq yields each piece in turn instead of allocating a slice of them all",
        pattern="splitseq" if pkg.imported == "strings" else "bytesseq",
        proven=proven if pkg.imported == "bytes" else "",
        proof="runtime",
        if_unproven=f"{pkg_name}.{fn} allocates its slice inside a call the compiler does not report",
    )


def _named(pass_: Pass, src: SourceFile, decl: Node, name: Node) -> tuple[Node, list[Edit], Node] | None:
    """The loop ranging over the slice `decl` names when that is the name's only use, the edits that
    drop `decl`, and the range's operand; None when no loop ranges over it (skipped when one does)."""
    if (obj := pass_.object_of(src, name)) is None:
        return None
    uses = sorted({u.start: u for u in pass_.uses(obj) if u.path == src.path}.values(), key=lambda u: u.start)
    ranged = [n for u in uses if (n := node_at(src, u.start)).parent is not None and n.parent.type == "range_clause"]
    operand = next((n for n in ranged if n.id == _field_id(n.parent, "right")), None)
    loop = operand.parent.parent if operand is not None and operand.parent is not None else None
    if operand is None or loop is None:
        return None
    stmt = _statement(loop)
    start, end = src.data.rfind(b"\n", 0, decl.start_byte) + 1, src.data.find(b"\n", decl.end_byte) + 1
    comment = src.data[decl.end_byte : end].strip()
    labels = {src.text(n.named_children[0]) for n in [*_between(decl, stmt), stmt] if n.type == "labeled_statement"}
    gotos = [n for n in walk(top_level(loop)) if n.type == "goto_statement" and src.text(n).split()[-1] in labels]
    why = ""
    if other := [u for u in uses if u.start != operand.start_byte]:
        at = node_at(src, other[0].start).parent or operand
        at = at.parent or at if at.type in ("argument_list", "expression_list") else at
        why = f"{obj.name} is used again ({src.text(at)}, line {other[0].line}): its slice must stay"
    elif decl.parent is None or stmt.parent is None or decl.parent.id != stmt.parent.id:
        why = f"{obj.name} is declared in another block than the loop, at line {src.line_of(decl.start_byte)}"
    elif src.data[start : decl.start_byte].strip() or comment[:2] not in (b"", b"//"):
        why = f"{obj.name} is declared on a line with another statement"
    elif gotos:
        why = f"{src.text(gotos[0])} (line {src.line_of(gotos[0].start_byte)}) may run the loop again without the split"
    if why:
        pass_.skip(src, loop, why)
        return None
    edits = [Edit(src.path, start, end, b"")]
    if comment:  # the declaration's comment goes with its call, to the loop
        edits.append(Edit.insert(src, stmt.start_byte, comment + b"\n" + src.data[start : decl.start_byte]))
    return loop, edits, operand


def _statement(loop: Node) -> Node:
    """The statement a loop is: itself, or the labeled statement that holds it."""
    return loop.parent if loop.parent is not None and loop.parent.type == "labeled_statement" else loop


def _between(decl: Node, stmt: Node) -> list[Node]:
    """The statements after `decl` and before `stmt`, comments left out."""
    found, node = [], decl.next_named_sibling
    while node is not None and node.id != stmt.id:
        found += [node] if node.type != "comment" else []
        node = node.next_named_sibling
    return found


def _changed_between(pass_: Pass, src: SourceFile, decl: Node, loop: Node, args: Node, of_bytes: bool) -> str:
    """Why the split's operands may differ at the loop from what they were at `decl`, or ""."""
    if not (between := _between(decl, _statement(loop))):
        return ""
    for ident in (n for n in walk(decl) if n.type == "identifier"):
        obj, there = pass_.object_of(src, ident), pass_.lookup(src, loop, src.text(ident))
        if obj is not None and (there is None or there.key != obj.key):
            return f"{src.text(ident)} means something else at the loop than at the split"
    for arg in args.named_children:
        if _constant(pass_, src, arg):
            continue
        obj = pass_.object_of(src, arg) if arg.type == "identifier" else None
        if obj is None or obj.kind != "var" or obj.package_level:
            line = src.line_of(between[0].start_byte)
            return (
                f"{src.text(arg)} is no local variable or constant, and line {line} runs between the split and the loop"
            )
        if why := _assigned(pass_, src, obj, decl, loop):
            return why
    write = next((w for n in between if of_bytes and (w := _first_write(pass_, src, n)) is not None), None)
    if write is not None:
        return f"{src.text(write)} (line {src.line_of(write.start_byte)}) may write the bytes between the split and the loop"
    return ""


def _constant(pass_: Pass, src: SourceFile, arg: Node) -> bool:
    """Whether `arg` is a constant, or a conversion of one (`[]byte(",")`: new bytes no one else sees)."""
    fn, inner = arg.child_by_field_name("function"), arg.child_by_field_name("arguments")
    kind = pass_.type_of(src, fn) if fn is not None and inner is not None and len(inner.named_children) == 1 else None
    if kind is not None and kind.is_type and inner is not None:
        arg = inner.named_children[0]
    arg = arg.child_by_field_name("operand") or arg if arg.type == "type_conversion_expression" else arg
    return (typ := pass_.type_of(src, arg)) is not None and typ.constant is not None


def _assigned(pass_: Pass, src: SourceFile, var: GoObject, decl: Node, loop: Node) -> str:
    """Where the local `var` may be assigned between `decl` and `loop`: there, in a closure, or
    through its address (`&var`, or a method's pointer receiver); "" when nowhere."""
    scope = enclosing(decl, *FUNCTION_TYPES)
    for use in pass_.uses(var):
        at = node_at(src, use.start)
        if use.path != src.path or at.parent is None:
            continue
        if at.parent.type == "selector_expression" or _field_text(src, at.parent, "operator") == "&":
            return f"{var.name} may be assigned through {src.text(at.parent)} (line {use.line})"
        holder = at.parent.parent if at.parent.type == "expression_list" else at.parent
        stored = holder is not None and holder.type in _STORES and at.parent.id == _field_id(holder, "left")
        inside = enclosing(at, *FUNCTION_TYPES)
        where = (
            "in a closure that may run" if inside is not None and scope is not None and inside.id != scope.id else ""
        )
        where = where or ("" if use.start < decl.end_byte or use.start >= loop.start_byte else "in the statements")
        if (stored or at.parent.type in ("inc_statement", "dec_statement")) and where:
            what = src.text(holder) if holder is not None else var.name
            return f"{var.name} is assigned {where} between the split and the loop ({what}, line {use.line})"
    return ""


def _field_id(node: Node | None, name: str) -> int | None:
    child = node.child_by_field_name(name) if node is not None else None
    return child.id if child is not None else None


def _field_text(src: SourceFile, node: Node, name: str) -> str:
    child = node.child_by_field_name(name)
    return src.text(child) if child is not None else ""


def _first_write(pass_: Pass, src: SourceFile, body: Node) -> Node | None:
    """The first node of `body` that may write bytes a slice holds, or wait for a goroutine that may."""
    for node in walk(body):
        if node.type in ("send_statement", "go_statement", "select_statement") or src.text(node)[:2] == "<-":
            return node
        if node.type == "call_expression" and not _reads_only(pass_, src, node):
            return node
        left = node.child_by_field_name("left") if node.type in ("assignment_statement", "range_clause") else None
        targets = left.named_children if left is not None and ":=" not in (c.type for c in node.children) else []
        targets += node.named_children[:1] if node.type in ("inc_statement", "dec_statement") else []
        right = node.child_by_field_name("right") if node.type == "range_clause" else None
        if right is not None and (typ := pass_.type_of(src, right)) is not None and typ.kind == "chan":
            return right
        if bad := [t for t in targets if not _holds_no_bytes(pass_, src, t)]:
            return bad[0]
    return None


def _reads_only(pass_: Pass, src: SourceFile, call: Node) -> bool:
    """Whether a call is a conversion, a builtin that fills no bytes, or a library function that fills none."""
    fn, args = call.child_by_field_name("function"), call.child_by_field_name("arguments")
    typ = pass_.type_of(src, fn) if fn is not None else None
    if fn is None or typ is None or typ.is_type:
        return typ is not None
    if fn.type == "identifier":
        obj, first = pass_.object_of(src, fn), args.named_children[:1] if args is not None else []
        filled = pass_.type_of(src, first[0]) if first else None
        fills = src.text(fn) in _FILLS and (filled is None or filled.elem is None or _may_hold_bytes(filled.elem))
        return obj is not None and obj.kind == "builtin" and src.text(fn) in _BUILTINS and not fills
    operand, field = fn.child_by_field_name("operand"), fn.child_by_field_name("field")
    pkg = pass_.object_of(src, operand) if operand is not None and operand.type == "identifier" else None
    name = src.text(field) if field is not None else ""
    return pkg is not None and pkg.imported in _READERS and not name.startswith("Append") and name != "EncodeRune"


def _holds_no_bytes(pass_: Pass, src: SourceFile, target: Node) -> bool:
    """Whether assigning to `target` cannot write bytes a slice may hold: a map element, a variable
    that is no array or struct, or a field or pointee that is not even a byte."""
    if src.text(target) == "_":
        return True
    operand = target.child_by_field_name("operand") if target.type == "index_expression" else None
    typ = pass_.type_of(src, operand or target)
    if typ is None or target.type == "index_expression":
        return typ is not None and typ.kind == "map"
    return typ.kind not in ("array", "struct") and (target.type == "identifier" or not _may_hold_bytes(typ))


def _may_hold_bytes(typ: GoType) -> bool:
    """Whether a value of this type may lie in memory a []byte also reaches: a byte, an array, a struct."""
    return typ.basic == "uint8" or typ.kind in ("array", "struct")


def _piece_leak(pass_: Pass, src: SourceFile, loop: Node, left: Node | None) -> Node | None:
    """Where a piece, or a slice of one, may show its capacity: given to cap or a full slice
    expression, or kept past its iteration (stored outside the loop, returned, captured)."""
    work = list(left.named_children[1:]) if left is not None else []
    seen: set[str] = set()
    while work:
        obj = pass_.object_of(src, ident := work.pop())
        if obj is None or obj.key in seen:
            continue
        seen.add(obj.key)
        if not _declared_in(obj, src, loop):
            return ident  # `for _, p = range`: the last piece stays in p after the loop
        for use in pass_.uses(obj):
            node = src.root.named_descendant_for_byte_range(use.start, use.end)
            if use.path == src.path and node is not None and loop.start_byte <= use.start < loop.end_byte:
                leak, kept = _follow(pass_, src, loop, node)
                if leak is not None:
                    return leak
                work += kept
    return None


def _follow(pass_: Pass, src: SourceFile, loop: Node, use: Node) -> tuple[Node | None, list[Node]]:
    """Follow one use of a piece out to where it is copied (into a length, a string, a byte),
    dropped or kept: the node that leaks it, else the loop's own variables that now hold it."""
    closure = enclosing(use, "func_literal")
    if closure is not None and closure.start_byte > loop.start_byte:
        return use, []
    top = use
    while (parent := top.parent) is not None and parent.type in _CLIMB:
        callee = parent.child_by_field_name("function") if parent.type == "call_expression" else None
        builtin = pass_.object_of(src, callee) if callee is not None and callee.type == "identifier" else None
        if builtin is not None and builtin.kind == "builtin" and builtin.name == "cap":
            return parent, []
        if parent.type == "slice_expression" and parent.child_by_field_name("capacity") is not None:
            return parent, []
        typ = pass_.type_of(src, parent) if parent.type not in _CONTAINERS else None
        if typ is not None and typ.kind == "basic":
            return None, []  # copied out
        top = parent
    if parent is None or parent.type == "expression_statement":
        return None, []  # dropped
    holder = parent.parent if parent.type == "expression_list" and parent.parent is not None else parent
    left = holder.child_by_field_name("left")
    right = holder.child_by_field_name("right") or holder.child_by_field_name("value")
    if left is not None and left.id == parent.id:
        return None, []  # written, not read: `p = p[1:]`
    if holder.type not in _STORES or right is None or right.id not in (parent.id, top.id):
        return top, []  # returned, deferred, sent: kept past its iteration
    lhs = left.named_children if left is not None else holder.children_by_field_name("name")
    values = right.named_children if right.type == "expression_list" else [right]
    if len(lhs) == len(values):
        lhs = [lhs[[v.id for v in values].index(top.id)]]
    kept = []
    for target in (t for t in lhs if src.text(t) != "_"):
        typ = pass_.type_of(src, target)
        if typ is not None and typ.kind == "basic":
            continue  # a number, a string or a byte of it: a copy
        obj = pass_.object_of(src, target) if target.type == "identifier" else None
        if obj is None or not _declared_in(obj, src, loop):
            return target, []
        kept.append(target)
    return None, kept


def _declared_in(obj: GoObject, src: SourceFile, loop: Node) -> bool:
    return obj.path == src.path and loop.start_byte <= obj.offset < loop.end_byte
