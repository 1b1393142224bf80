"""Write a string to an io.Writer with io.WriteString instead of converting it or boxing it first.

`w.Write([]byte(s))` on an interface copies the string into a new byte slice that escapes
(`([]byte)(s) escapes to heap`), and `fmt.Fprint(w, s)` or `fmt.Fprintf(w, "%s", s)` boxes the
string into an interface (`s escapes to heap`). `io.WriteString(w, s)` hands the string to the
writer's own WriteString method when it has one (*os.File, *bufio.Writer, *bytes.Buffer,
*strings.Builder, io.Discard), and then nothing is allocated. A writer with only a Write
method gets the same []byte copy from io.WriteString, so there the rewrite saves nothing: the
calibration measures both. Both forms return (int, error), so any use of the result stays. The
value must be declared a string and the writer be a name or a field, read without side effects;
a WriteString method writing to its own receiver is left alone, as io.WriteString would call it.

Before:  w.Write([]byte(s))
After:   io.WriteString(w, s)
"""

from __future__ import annotations

from goescape.engine.codemod import Context, Edit, Match, Proposal, Skip
from goescape.engine.parsing import local_name
from goescape.engine.parsing import Node, SourceFile
from goescape.engine.typeinfo import basic_type, declared

NAME = "write-string"
QUERY = """
(call_expression
  function: (selector_expression operand: (_) @writer field: (field_identifier) @method)
  arguments: (argument_list .
    (type_conversion_expression type: (slice_type element: (type_identifier) @byte) operand: (_) @value) @wrapped .)
  (#eq? @method "Write") (#eq? @byte "byte")) @call
(call_expression
  function: (selector_expression operand: (identifier) @pkg field: (field_identifier) @method)
  arguments: (argument_list . (_) @writer . (_)? @format . (_) @value .) @args
  (#eq? @pkg "fmt") (#match? @method "^(Fprint|Fprintf)$")) @call
"""

_FORMATS = ('"%s"', '"%v"', "`%s`", "`%v`")


def _plain(src: SourceFile, node: Node) -> bool:
    """A name or a chain of field selections: evaluating it has no side effects."""
    operand = node.child_by_field_name("operand")
    if node.type == "selector_expression" and operand is not None:
        return _plain(src, operand)
    return node.type == "identifier"


def propose(match: Match, ctx: Context) -> Proposal | Skip | None:
    src, call, writer, value = match.src, match.one("call"), match.one("writer"), match.one("value")
    method, format_ = match.text("method"), match.one("format")
    if call is None or writer is None or value is None:
        return None
    if method == "Fprintf" and (format_ is None or src.text(format_) not in _FORMATS):
        return None  # other formats are the sprint codemod's, or have no io.WriteString twin
    if method == "Fprint" and format_ is not None:
        return None  # Fprint of two operands may put a space between them
    if method != "Write" and local_name(src, "fmt") != "fmt":
        return None
    func = ctx.function_of(src, call)
    name = func.child_by_field_name("name") if func is not None else None
    function, line = src.text(name) if name is not None else "", src.line_of(call.start_byte)
    wrapped = match.one("wrapped")
    if wrapped is not None:
        targets = tuple(f for f in ctx.facts_within(src, wrapped) if f.expr.startswith("([]byte)("))
    else:
        targets = tuple(f for f in ctx.facts_within(src, value) if f.expr == src.text(value))
    if not targets:
        return None  # nothing escapes here: a concrete writer's Write may take the bytes without a copy

    def skip(reason: str) -> Skip:
        return Skip(NAME, src.path, line, function, reason, targets)

    kind, text = basic_type(src, value), src.text(writer)
    if kind not in (None, "string"):
        return None  # Fprint of a number: formatting it is Fprint's job
    undeclared = writer.type == "identifier" and declared(src, text, call) is None
    if wrapped is not None and undeclared and text not in ctx.package_level_names():
        return None  # pkg.Write(...): a package's function, not a writer's method
    if kind is None:
        return skip(f"{src.text(value)} is not declared a string, and io.WriteString takes only a string")
    if not _plain(src, writer):
        return skip(f"the writer {text} is not a plain name or field, read without side effects")
    receiver = func.child_by_field_name("receiver") if func is not None else None
    own = [src.text(n) for p in (receiver.named_children if receiver else []) for n in p.children_by_field_name("name")]
    if name is not None and src.text(name) == "WriteString" and text in own:
        return skip("this is the receiver's WriteString method, which io.WriteString would call: it would recurse")
    args = call.child_by_field_name("arguments")
    if args is None or any(n.type == "comment" for n in args.named_children):
        return skip("a comment inside the call would be lost")
    if local_name(src, "io") not in (None, "io") or declared(src, "io", call) or "io" in ctx.package_level_names():
        return skip("the name io means something else here, so the io package cannot be used")
    return Proposal(
        codemod=NAME,
        package=ctx.package.import_path,
        path=src.path,
        line=line,
        function=function,
        edits=(Edit.replace(src, call, f"io.WriteString({text}, {src.text(value)})"),),
        targets=targets,
        rationale="io.WriteString passes the string to the writer's WriteString method without a copy or a box",
        add_imports=((src.path, "io"),),
        drop_imports=((src.path, "fmt"),),
        pattern="write" if wrapped is not None else "fprint",
    )
