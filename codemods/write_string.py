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

Before:  w.Write([]byte(s))
After:   io.WriteString(w, s)
"""

from __future__ import annotations

from goescape.engine.codemod import Edit, Match, Pass, Pattern
from goescape.engine.oracle import GoType
from goescape.engine.parsing import Node, SourceFile, walk

NAME = "write-string"
PATTERNS = (
    Pattern("write"),  # w.Write([]byte(s)) → io.WriteString(w, s), for an interface without WriteString
    Pattern("write-method"),  # w.Write([]byte(s)) → w.WriteString(s), for a type with WriteString
    Pattern("fprint"),  # fmt.Fprint(w, s), fmt.Fprintf(w, "%s", s) → io.WriteString(w, s)
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
"""


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
