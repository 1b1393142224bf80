"""Format into bytes with fmt.Appendf, or straight into a writer with fmt.Fprintf, not via a string.

`[]byte(fmt.Sprintf(...))` allocates twice: Sprintf's string, then the escaping []byte copy of it
(`([]byte)(fmt.Sprintf(...)) escapes to heap`). `fmt.Appendf(nil, ...)` (Go 1.19+) formats into
the one slice it returns. When those bytes only go to `w.Write`, `fmt.Fprintf(w, ...)` writes fmt's
pooled buffer and allocates neither; it returns what Write returned, so it fits wherever that call
stood. Sprint and Sprintln map to Append/Appendln and Fprint/Fprintln in the same way.

Before:  w.Write([]byte(fmt.Sprintf("%s=%d\\n", k, v)))
After:   fmt.Fprintf(w, "%s=%d\\n", k, v)
"""

from __future__ import annotations

from goescape.engine.codemod import Context, Edit, Match, Proposal, Skip
from goescape.engine.parsing import local_name
from goescape.engine.parsing import Node, SourceFile
from goescape.engine.toolchain import go_line_at_least
from goescape.engine.typeinfo import declared

NAME = "appendf"
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


def propose(match: Match, ctx: Context) -> Proposal | Skip | None:
    src, conversion, call, args = match.src, match.one("conversion"), match.one("call"), match.one("args")
    if conversion is None or call is None or args is None or not args.named_children or local_name(src, "fmt") != "fmt":
        return None
    targets = tuple(f for f in ctx.facts_within(src, conversion) if f.expr.startswith("([]"))
    if not targets:
        return None  # a conversion that does not escape reuses the string's bytes: nothing to save
    func = ctx.function_of(src, conversion)
    name = func.child_by_field_name("name") if func is not None else None
    function, line = src.text(name) if name is not None else "", src.line_of(conversion.start_byte)
    verb = match.text("fn").removeprefix("Sprint")  # "f", "" or "ln"
    inner = src.text(args)[1:-1]  # the arguments as written, comments and a trailing comma included

    write = _write_call(src, ctx, conversion)
    if write is not None:
        new, node, pattern = f"fmt.Fprint{verb}({src.text(write[1])}, {inner})", write[0], "fprintf-write"
        rationale = f"fmt.Fprint{verb} writes fmt's pooled buffer: no string and no []byte copy of it"
    elif go_line_at_least(ctx.package.go_line, 1, 19):
        new, node, pattern = f"fmt.Append{verb}(nil, {inner})", conversion, "appendf"
        rationale = f"fmt.Append{verb} formats into the slice it returns, without a string to copy first"
    else:
        reason = f"fmt.Append{verb} needs go 1.19 in go.mod (it says {ctx.package.go_line})"
        return Skip(NAME, src.path, line, function, reason, targets)
    return Proposal(
        codemod=NAME,
        package=ctx.package.import_path,
        path=src.path,
        line=line,
        function=function,
        edits=(Edit.replace(src, node, new),),
        targets=targets,
        rationale=rationale,
        pattern=pattern,
    )


def _write_call(src: SourceFile, ctx: Context, conversion: Node) -> tuple[Node, Node] | None:
    """The call `w.Write(conversion)` and its w, when the converted bytes are all it is given."""
    args = conversion.parent
    call = args.parent if args is not None and args.type == "argument_list" else None
    if args is None or call is None or call.type != "call_expression" or len(args.named_children) != 1:
        return None
    fn = call.child_by_field_name("function")
    selector = fn if fn is not None and fn.type == "selector_expression" else None
    field = selector.child_by_field_name("field") if selector is not None else None
    writer = selector.child_by_field_name("operand") if selector is not None else None
    if field is None or writer is None or src.text(field) != "Write":
        return None
    # A name declared nowhere in scope is a package: pkg.Write is a function, not a writer's method.
    name = src.text(writer)
    if writer.type == "identifier" and declared(src, name, writer) is None and name not in ctx.package_level_names():
        return None
    return call, writer
