"""Format into bytes with fmt.Appendf, or straight into a writer with fmt.Fprintf, not via a string.

`[]byte(fmt.Sprintf(...))` allocates twice: Sprintf's string, then the escaping []byte copy of it
(`([]byte)(fmt.Sprintf(...)) escapes to heap`). `fmt.Appendf(nil, ...)` (Go 1.19+) formats into
the one slice it returns; but where the text is empty that slice is nil, not an empty slice, so
it is taken only where the format or an operand shows the text never is. When the bytes only go
to the Write method of an io.Writer (its type per go/types), `fmt.Fprintf(w, ...)` writes fmt's
pooled buffer and allocates neither; it returns what Write returned, so it fits wherever that
call stood, except after `defer` or `go`, which would format when the call runs, not when it is
deferred. Sprint and Sprintln map to Append/Appendln and Fprint/Fprintln in the same way.

Before:  w.Write([]byte(fmt.Sprintf("%s=%d\\n", k, v)))
After:   fmt.Fprintf(w, "%s=%d\\n", k, v)
"""

from __future__ import annotations

import ast
import re

from goescape.engine.codemod import Match, Pattern
from goescape.engine.edits import Edit
from goescape.engine.parsing import Node, SourceFile, walk
from goescape.engine.passes import Pass
from goescape.engine.toolchain import go_line_at_least

NAME = "appendf"
PATTERNS = (
    # []byte(fmt.Sprintf(...)) → fmt.Appendf(nil, ...)
    Pattern(
        "appendf",
        differs="differs when the text is empty: fmt.Appendf(nil, ...) returns nil where the conversion returns an"
        ' empty slice that is not nil, which b == nil, reflect and encoding/json (null, not "") tell apart',
    ),
    # w.Write([]byte(fmt.Sprintf(...))) → fmt.Fprintf(w, ...): the same one Write of the same bytes,
    # which the writer may not keep past the call (io.Writer's contract), and the same results.
    Pattern("fprintf-write"),
)
QUERY = """
(type_conversion_expression
  type: (slice_type element: (type_identifier) @elem)
  operand: (call_expression
    function: (selector_expression operand: (identifier) @pkg field: (field_identifier) @fn)
    arguments: (argument_list) @args) @call
  (#match? @elem "^(byte|uint8)$")
  (#eq? @pkg "fmt")
  (#match? @fn "^(Sprintf|Sprint|Sprintln)$")) @conversion
"""

# Spans at least each fmt directive (flags, width and precision are no letters; the verb is one rune).
_DIRECTIVE = re.compile(r"%[^a-zA-Z]*.?", re.DOTALL)


def _never_empty(src: SourceFile, pass_: Pass, fn: str, args: list[Node]) -> str:
    """What shows that the formatted text is never empty, or "" when nothing does."""
    if fn == "Sprintln":
        return "Sprintln ends its text with a newline"
    if fn == "Sprintf":
        layout = pass_.type_of(src, args[0])
        # strconv.Quote, which spells the constant, escapes only as Python's string literals do.
        text = ast.literal_eval(layout.constant) if layout is not None and layout.constant else ""
        return f"the format {src.text(args[0])} prints text of its own" if _DIRECTIVE.sub("", text) else ""
    for arg in args:
        t = pass_.type_of(src, arg)
        if t is not None and not t.formats_itself and (t.integer or t.float or t.boolean):
            return f"{src.text(arg)} ({t.text}) never prints as nothing"
        if t is not None and t.string and t.constant not in (None, '""'):
            return f"{src.text(arg)} is a constant that is not empty"
    return ""


def _writer(src: SourceFile, pass_: Pass, conversion: Node) -> tuple[Node, Node] | None:
    """The call `w.Write(conversion)` and its w, when w is an io.Writer and the bytes are all it is given."""
    args = conversion.parent
    call = args.parent if args is not None and args.type == "argument_list" else None
    if args is None or call is None or call.type != "call_expression" or len(args.named_children) != 1:
        return None
    fn = call.child_by_field_name("function")
    field = fn.child_by_field_name("field") if fn is not None and fn.type == "selector_expression" else None
    writer = fn.child_by_field_name("operand") if fn is not None and field is not None else None
    if field is None or writer is None or src.text(field) != "Write":
        return None
    if call.parent is not None and call.parent.type in ("defer_statement", "go_statement"):
        return None  # Sprintf formats when the statement runs; Fprintf would when the call does
    w_type = pass_.type_of(src, writer)
    # fmt.Fprintf takes w as an io.Writer: pkg.Write, a func field or a pointer method will not do.
    return (call, writer) if w_type is not None and "Write" in w_type.methods else None


def propose(match: Match, pass_: Pass) -> None:
    src, conversion, call, args = match.src, match.one("conversion"), match.one("call"), match.one("args")
    pkg = match.one("pkg")
    if conversion is None or call is None or args is None or pkg is None or not args.named_children:
        return
    package = pass_.object_of(src, pkg)
    converted = pass_.type_of(src, conversion)
    if package is None or package.imported != "fmt" or converted is None or not converted.is_byte_slice:
        return
    targets = [f for f in pass_.facts_within(src, conversion) if f.expr.startswith("([]")]
    if not targets:
        return  # a conversion that does not escape reuses the string's bytes: nothing to save
    verb = match.text("fn").removeprefix("Sprint")  # "f", "" or "ln"
    inner = src.text(args)[1:-1]  # the arguments as written, comments and a trailing comma included
    write = _writer(src, pass_, conversion)
    node = write[0] if write is not None else conversion
    if any(n.type == "comment" and not args.start_byte <= n.start_byte < args.end_byte for n in walk(node)):
        return pass_.skip(src, node, "a comment outside the format's arguments would be lost", targets)
    if write is not None:
        new = f"fmt.Fprint{verb}({src.text(write[1])}, {inner})"
        rationale = f"fmt.Fprint{verb} writes fmt's pooled buffer: no string and no []byte copy of it"
        pass_.report(
            src, node, [Edit.replace(src, node, new)], targets=targets, rationale=rationale, pattern="fprintf-write"
        )
        return
    if not go_line_at_least(pass_.package.go_line, 1, 19):
        reason = f"fmt.Append{verb} needs go 1.19 in go.mod (it says {pass_.package.go_line})"
        return pass_.skip(src, conversion, reason, targets)
    pass_.report(
        src,
        conversion,
        [Edit.replace(src, conversion, f"fmt.Append{verb}(nil, {inner})")],
        targets=targets,
        rationale=f"fmt.Append{verb} formats into the slice it returns, without a string to copy first",
        pattern="appendf",
        proven=_never_empty(src, pass_, match.text("fn"), [a for a in args.named_children if a.type != "comment"]),
    )
