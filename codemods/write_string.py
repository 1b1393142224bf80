"""Write a string to an io.Writer with io.WriteString instead of converting it or boxing it first.

`w.Write([]byte(s))` copies s into a new byte slice, which escapes when Write may keep it (an
interface, or a Write that passes it on: `([]byte)(s) escapes to heap`), and `fmt.Fprint(w, s)`
or `fmt.Fprintf(w, "%s", s)` boxes the string into an interface (`s escapes to heap`). A writer
whose type, as go/types gives it, has a WriteString method takes the string itself and nothing is
allocated (*os.File, *bufio.Writer, *bytes.Buffer, *strings.Builder): `w.Write([]byte(s))` becomes
`w.WriteString(s)`, which boxes no writer either, and `fmt.Fprint(w, s)` becomes
`io.WriteString(w, s)`. For an interface without that method, such as io.Writer, the dynamic
writer decides: io.WriteString calls its WriteString when it has one and otherwise makes the same
[]byte copy, saving nothing (the calibration measures both). A concrete writer without
WriteString is left alone, as is a value fmt prints through its String method; a named string
type is passed as `string(s)`. Every form returns what the writer's method returns, so any use of
the results stays. Each trusts that WriteString(s) writes what Write([]byte(s)) does, as
io.WriteString itself does.

`w.WriteString(a + b)` on a *strings.Builder or *bytes.Buffer builds the concatenation first: on
the stack up to 32 bytes, on the heap beyond (`a + b does not escape`, so the compiler says
nothing and every file is read). One WriteString per piece copies the pieces into the buffer
directly, in the same order, each returning its length and a nil error, so the text, a following
`_, err :=` and any panic are what they were; only the spare capacity the buffer grows to may
differ. Each piece must be a variable, a constant, a literal or a field of a value, which the
first write cannot change and whose reading cannot panic. A run proves the rewrite: where every
concatenation fits in 32 bytes the pieces save nothing, and a buffer grown by smaller writes may
grow once more. A *bufio.Writer is left alone: it passes a string longer than its free buffer
straight to a writer beneath it that has WriteString, where two pieces go through the buffer, so
that writer sees other writes.

Before:  w.Write([]byte(s))
After:   io.WriteString(w, s)
"""

from __future__ import annotations

from goescape.engine.codemod import Match, Pattern
from goescape.engine.edits import Edit
from goescape.engine.facts import Kind
from goescape.engine.gotypes import GoType
from goescape.engine.parsing import Node, SourceFile, walk
from goescape.engine.passes import Pass

NAME = "write-string"
# A concatenation a buffer's WriteString takes does not escape, so the compiler reports nothing there.
ANCHORED = False
PATTERNS = (
    Pattern("write"),  # w.Write([]byte(s)) → io.WriteString(w, s), for an interface without WriteString
    Pattern("write-method"),  # w.Write([]byte(s)) → w.WriteString(s), for a type with WriteString
    Pattern("fprint"),  # fmt.Fprint(w, s), fmt.Fprintf(w, "%s", s) → io.WriteString(w, s)
    Pattern("concat"),  # w.WriteString(a + b) → w.WriteString(a); w.WriteString(b), on a Builder or Buffer
)
QUERY = """
(call_expression
  function: (selector_expression operand: (_) @writer field: (field_identifier) @method)
  arguments: (argument_list .
    (type_conversion_expression type: (slice_type element: (type_identifier) @byte) operand: (_) @value) @wrapped .)
  (#eq? @method "Write") (#match? @byte "^(byte|uint8)$")) @call
(call_expression
  function: (selector_expression operand: (identifier) @pkg field: (field_identifier) @method)
  arguments: (argument_list . (_) @writer . (_)? @format . (_) @value .) @args
  (#eq? @pkg "fmt") (#match? @method "^(Fprint|Fprintf)$")) @call
(call_expression
  function: (selector_expression operand: (_) @writer field: (field_identifier) @method)
  arguments: (argument_list . (binary_expression operator: "+") @concat .)
  (#eq? @method "WriteString")) @call
"""
_BUFFERS = ("strings.Builder", "bytes.Buffer")


def _own_method(src: SourceFile, pass_: Pass, at: Node, writer: GoType) -> bool:
    """Whether `at` is inside the WriteString method of the writer's own type, which a rewrite would call."""
    method = pass_.function_of(src, at)
    name = method.child_by_field_name("name") if method is not None else None
    receiver = method.child_by_field_name("receiver") if method is not None else None
    if name is None or receiver is None or src.text(name) != "WriteString" or not receiver.named_children:
        return False
    spelled = receiver.named_children[0].child_by_field_name("type")
    own = pass_.type_of(src, spelled) if spelled is not None else None
    return own is not None and own.text.lstrip("*") == writer.text.lstrip("*")


def propose(match: Match, pass_: Pass) -> None:
    src, call, writer, value = match.src, match.one("call"), match.one("writer"), match.one("value")
    wrapped, format_, pkg = match.one("wrapped"), match.one("format"), match.one("pkg")
    if call is not None and writer is not None and (concat := match.one("concat")) is not None:
        return _concat(src, pass_, call, writer, concat)
    if call is None or writer is None or value is None:
        return
    if wrapped is not None:
        targets = [f for f in pass_.facts_within(src, wrapped) if f.expr.startswith("([]")]
    else:
        targets = [f for f in pass_.facts_within(src, value) if f.expr == src.text(value)]
    if not targets:
        return  # nothing escapes here: a concrete writer's Write may take the bytes without a copy
    if pkg is not None:
        package = pass_.object_of(src, pkg)
        if package is None or package.imported != "fmt":
            return
        if match.text("method") == "Fprint" and format_ is not None:
            return  # Fprint of two operands may put a space between them
        layout = pass_.type_of(src, format_) if format_ is not None else None
        if match.text("method") == "Fprintf" and (layout is None or layout.constant not in ('"%s"', '"%v"')):
            return  # other formats are the sprint codemod's, or have no io.WriteString twin
    w_type, v_type, text = pass_.type_of(src, writer), pass_.type_of(src, value), src.text(value)
    if w_type is None or "Write" not in w_type.methods | w_type.pointer_methods:
        return  # pkg.Write(...), or a func-valued field: not a writer's method
    if v_type is None or not v_type.string:
        if wrapped is None:
            return  # Fprint of a number: formatting it is Fprint's job
        what = f"has type {v_type.text}" if v_type is not None else "has no type per go/types"
        return pass_.skip(src, call, f"{text} {what}: io.WriteString takes only a string", targets)
    if wrapped is None and v_type.formats_itself:
        called = " and ".join(sorted({"Error", "Format", "String"} & v_type.methods))
        return pass_.skip(src, call, f"fmt prints {text} ({v_type.text}) through its {called} method", targets)
    if any(n.type == "comment" for n in walk(call)):
        return pass_.skip(src, call, "a comment inside the call would be lost", targets)
    if _own_method(src, pass_, call, w_type):
        why = f"this is {w_type.text}'s own WriteString, which the rewrite would call: it would never return"
        return pass_.skip(src, call, why, targets)
    arg = text if v_type.text == "string" or v_type.untyped else f"string({text})"
    # A pointer method is in reach only when w.Write itself is one: then w is addressable.
    methods = w_type.methods if "Write" in w_type.methods else w_type.pointer_methods
    if wrapped is not None and "WriteString" in methods:
        new = f"{src.text(writer)}.WriteString({arg})"
        rationale = f"{w_type.text}'s WriteString writes the string itself: no []byte copy to escape"
        pass_.report(
            src, call, [Edit.replace(src, call, new)], targets=targets, rationale=rationale, pattern="write-method"
        )
        return
    if not w_type.is_interface and "WriteString" not in methods:
        what = "the same []byte copy" if wrapped is not None else f"a []byte copy of {text} where fmt boxes it"
        return pass_.skip(
            src, call, f"{w_type.text} has no WriteString method: io.WriteString would make {what}", targets
        )
    if problem := pass_.import_problem(src, call, "io"):
        return pass_.skip(src, call, problem, targets)
    if "WriteString" in methods:
        rationale = f"io.WriteString passes the string to {w_type.text}'s WriteString: nothing is copied or boxed"
    else:
        rationale = (
            "io.WriteString passes the string to the dynamic writer's WriteString method when it has one"
            f" ({w_type.text} does not say): then nothing is copied or boxed"
        )
    pass_.report(
        src,
        call,
        [Edit.replace(src, call, f"io.WriteString({src.text(writer)}, {arg})")],
        targets=targets,
        rationale=rationale,
        pattern="write" if wrapped is not None else "fprint",
        add_imports=["io"],
        drop_imports=["fmt"] if wrapped is None else [],
    )


def _concat(src: SourceFile, pass_: Pass, call: Node, writer: Node, concat: Node) -> None:
    """w.WriteString(a + b + ...) → one WriteString per piece, on a strings.Builder or bytes.Buffer."""
    targets = [f for f in pass_.facts_within(src, concat) if f.kind == Kind.ESCAPES]
    w_type, c_type = pass_.type_of(src, writer), pass_.type_of(src, concat)
    buffer = w_type.text.lstrip("*") if w_type is not None else ""
    if c_type is None or not c_type.string or c_type.constant is not None:
        return  # not a string concatenation, or one the compiler folds into a constant
    if buffer == "bufio.Writer" and targets:
        why = (
            "a *bufio.Writer hands a string longer than its free buffer straight to a writer beneath it that has"
            " WriteString, where two pieces go through the buffer: that writer would see other writes"
        )
        return pass_.skip(src, call, why, targets)
    if buffer not in _BUFFERS:
        return
    pieces, stack = [], [concat]
    while stack:
        node = stack.pop()
        operator = node.child_by_field_name("operator")
        if node.type == "binary_expression" and operator is not None and src.text(operator) == "+":
            stack += [n for n in (node.child_by_field_name(f) for f in ("right", "left")) if n is not None]
        else:
            pieces.append(node)
    stmt = call.parent.parent if call.parent is not None and call.parent.type == "expression_list" else call.parent
    indent = src.data[src.data.rfind(b"\n", 0, stmt.start_byte) + 1 : stmt.start_byte] if stmt else b"?"
    why = _statement_problem(src, call, stmt)
    if not why and (moving := next((p for p in pieces if not _steady(pass_, src, p)), None)) is not None:
        why = f"{src.text(moving)} is not a name, literal or field of a value: the first write may change it or panic"
    if not why and not _steady(pass_, src, writer, pointers=True):
        why = f"{src.text(writer)} is not a variable or a field of one, and would be evaluated twice"
    if not why and any(n.type == "comment" for n in walk(call)):
        why = "a comment inside the call would be lost"
    if not why and indent.strip():
        why = "the call shares its line with other code"
    if why or stmt is None:
        return pass_.skip(src, call, why, targets)
    ahead = "".join(f"{src.text(writer)}.WriteString({src.text(p)})\n{indent.decode()}" for p in pieces[:-1])
    pass_.report(
        src,
        call,
        [Edit.insert(src, stmt.start_byte, ahead), Edit.replace(src, concat, src.text(pieces[-1]))],
        targets=targets,
        rationale=f"each piece is copied into the {buffer} itself: no concatenated string is built to copy from",
        pattern="concat",
        # Builder.WriteString is inlined at each call with its append and its copy check's panic text:
        # the added calls repeat those lines, not allocations.
        allowed_new=[r"^append$", r'^"strings: illegal use of non-zero Builder copied by value"$'],
        proof="escape" if targets else "runtime",
        if_unproven="a concatenation a buffer takes does not escape; it is allocated past 32 bytes, which a run shows",
    )


def _statement_problem(src: SourceFile, call: Node, stmt: Node | None) -> str:
    """Why the call cannot be split into one statement per piece, or "" when it can: it must be a
    statement of its own whose count, the one result that would differ, is not used."""
    if stmt is None or stmt.parent is None or stmt.parent.type != "statement_list":
        return "the call is not a statement of its own: the writes cannot be split"
    if stmt.type == "expression_statement":
        return ""
    left = stmt.child_by_field_name("left")
    if stmt.type not in ("short_var_declaration", "assignment_statement") or left is None:
        return "the call is not a statement of its own: the writes cannot be split"
    if src.text(left.named_children[0]) != "_":
        return "the count WriteString returns is used: two writes would return it in two parts"
    return ""


def _steady(pass_: Pass, src: SourceFile, node: Node, *, pointers: bool = False) -> bool:
    """Whether `node` is a name, a literal or a field chain that reads no pointer (unless `pointers`)."""
    if node.type in ("identifier", "interpreted_string_literal", "raw_string_literal"):
        return True
    operand, field = node.child_by_field_name("operand"), node.child_by_field_name("field")
    if node.type != "selector_expression" or operand is None or field is None:
        return False
    package = pass_.object_of(src, operand) if operand.type == "identifier" else None
    if package is not None and package.kind == "pkgname":
        return True
    typ = pass_.type_of(src, operand)
    readable = typ is not None and (pointers or typ.kind not in ("pointer", "interface"))
    return readable and _steady(pass_, src, operand, pointers=pointers)
