"""Replace fmt's interface boxing with strconv, concatenation, errors.New and io.WriteString.

`fmt.Sprintf`, `Sprint` and `Fprintf` take `...any`: every argument is boxed into an interface,
and a boxed variable escapes to the heap (`n escapes to heap`). When the verbs are plain `%s`,
`%d`, `%v` or `%t` and each argument's type is a basic type known from its declaration, strconv
or a string concatenation builds the same text with nothing boxed. A named type (it may have a
String method), an error, a Stringer or `%v` of an interface stays as it is. Go 1.25+ boxes small
values without allocating, so on those toolchains some of these save nothing at run time even
though the escape line goes away.

Before:  addr := fmt.Sprintf("%s:%d", host, port)
After:   addr := host + ":" + strconv.Itoa(port)
"""

from __future__ import annotations

import re

from goescape.engine.codemod import Context, Edit, Match, Proposal, Skip
from goescape.engine.edits import local_name
from goescape.engine.typeinfo import BASIC, basic_type, declared, declared_type

NAME = "sprint"
QUERY = """
(call_expression
  function: (selector_expression operand: (identifier) @pkg field: (field_identifier) @fn)
  arguments: (argument_list) @args
  (#eq? @pkg "fmt")
  (#match? @fn "^(Sprintf|Sprint|Errorf|Fprintf)$")) @call
"""

_DIRECTIVE = re.compile(r"%([^a-zA-Z%]*)(.?)", re.DOTALL)
_PERCENT_ESCAPE = re.compile(r"\\(x25|045|u0025|U00000025)")  # a `%` fmt sees but the text does not show
# How strconv prints each integer kind as %d and %v do: in base 10, byte and rune as numbers.
_STRCONV = {
    "int": "strconv.Itoa({})", "int64": "strconv.FormatInt({}, 10)", "uint64": "strconv.FormatUint({}, 10)",
    **dict.fromkeys(("int8", "int16", "int32", "rune"), "strconv.FormatInt(int64({}), 10)"),
    **dict.fromkeys(("uint", "uint8", "uint16", "uint32", "byte", "uintptr"), "strconv.FormatUint(uint64({}), 10)"),
}  # fmt: skip
_OPERAND_OF = {"index_expression", "slice_expression"}


def _render(arg: str, typ: str, verb: str) -> str | None:
    """Go text that prints the argument as the verb does, or None when there is none this plain."""
    if typ == "string" and verb in "sv":
        return arg
    if typ == "bool" and verb in "tv":
        return f"strconv.FormatBool({arg})"
    return _STRCONV[typ].format(arg) if verb in "dv" and typ in _STRCONV else None


def _parse(body: str) -> tuple[list[str], list[str]] | str:
    """A format's literal pieces (one more than its verbs) and verbs, or the directive that has no twin."""
    pieces, verbs, pos = [""], [], 0
    for m in _DIRECTIVE.finditer(body):
        pieces[-1] += body[pos : m.start()]
        pos = m.end()
        if m.group() == "%%":
            pieces[-1] += "%"
        elif m.group(1) or m.group(2) not in ("s", "d", "v", "t"):
            return m.group()
        else:
            verbs.append(m.group(2))
            pieces.append("")
    pieces[-1] += body[pos:]
    return pieces, verbs


def _why_not(arg: str, typ: str | None, verb: str) -> str:
    """The reason an argument stays boxed, for the report."""
    if typ is None:
        return f"the type of {arg} is not known from its declaration"
    if typ in BASIC:
        return f"%{verb} of {arg} ({typ}) has no plain strconv or concatenation twin"
    if typ in ("error", "any", "interface{}"):
        return f"{arg} is an interface ({typ}): the value inside decides the text"
    return f"{arg} has type {typ}, not a basic type: its own String, Error or Format method may decide the text"


def propose(match: Match, ctx: Context) -> Proposal | Skip | None:
    src, call, fn, args_node = match.src, match.one("call"), match.text("fn"), match.one("args")
    if call is None or args_node is None or call.parent is None or local_name(src, "fmt") != "fmt":
        return None
    args = args_node.named_children
    func = ctx.function_of(src, call)
    name = func.child_by_field_name("name") if func is not None else None
    function, line = src.text(name) if name is not None else "", src.line_of(call.start_byte)
    targets = tuple(f for f in ctx.facts_within(src, args_node) if any(f.expr == src.text(a) for a in args))
    if fn == "Errorf":
        targets = tuple(ctx.facts_within(src, call))

    def skip(reason: str) -> Skip:
        return Skip(NAME, src.path, line, function, reason, targets)

    if not targets or any(a.type == "variadic_argument" for a in args):
        return None  # nothing here escapes, or the arguments are a slice already boxed
    if call.parent.type == "expression_statement" and fn != "Fprintf":
        return None  # an unused result is go vet's business, not ours
    if any(a.type == "comment" for a in args):
        return skip("a comment inside the call would be lost")
    writer, values = (args[0], args[1:]) if fn == "Fprintf" else (None, args)
    if fn == "Sprint":
        if len(values) != 1:
            return None  # Sprint puts spaces between some operands; one operand has none
        fmt_text = '"%v"'
    elif values and values[0].type in ("interpreted_string_literal", "raw_string_literal"):
        fmt_text, values = src.text(values[0]), values[1:]
    else:
        return None
    if fn == "Errorf" and values:
        return None  # Errorf with arguments may wrap an error (%w); only a constant message is plain
    if fn == "Errorf" and all("fmt.Errorf" in t.inlined for t in targets):
        return skip("this toolchain already inlines fmt.Errorf of a constant into errors.New: nothing to gain")
    quote, body = fmt_text[0], fmt_text[1:-1]
    if quote == '"' and _PERCENT_ESCAPE.search(body):
        return skip("the format spells % with an escape sequence")
    parsed = _parse(body)
    if isinstance(parsed, str):
        return skip(f"{parsed} has a flag, width or verb that strconv has no twin for")
    literals, verbs = parsed
    if len(verbs) != len(values):
        return skip(f"the format has {len(verbs)} verbs for {len(values)} arguments")

    imports: set[str] = set()
    pattern = fn.lower() if fn in ("Errorf", "Fprintf") else ""  # the calibration pair it is an instance of
    if fn == "Errorf":
        new, imports = f"errors.New({quote}{literals[0]}{quote})", {"errors"}
    else:
        pieces = [f"{quote}{literals[0]}{quote}"] if literals[0] else []
        for value, verb, literal in zip(values, verbs, literals[1:], strict=True):
            typ = basic_type(src, value)
            rendered = _render(src.text(value), typ, verb) if typ is not None else None
            if rendered is None:
                return skip(_why_not(src.text(value), typ or declared_type(src, value), verb))
            pieces.append(rendered)
            imports |= {"strconv"} if rendered != src.text(value) else set()
            if literal:
                pieces.append(f"{quote}{literal}{quote}")
        new = " + ".join(pieces)
        pattern = pattern or ("concat" if len(pieces) > 1 else "strconv" if imports else "string")
        if writer is not None:
            if len(pieces) != 1 or imports:
                return skip('only Fprintf(w, "%s", s) of a string writes the same without building the text first')
            new, imports = f"io.WriteString({src.text(writer)}, {new})", {"io"}
        elif len(pieces) > 1 and call.parent.type in _OPERAND_OF:
            # Indexed or sliced, the concatenation needs parentheses; anywhere else a
            # string is allowed (an argument, either side of `+` or `==`) it needs none.
            operand = call.parent.child_by_field_name("operand")
            new = f"({new})" if operand is not None and operand.start_byte == call.start_byte else new
    for imp in sorted(imports):
        if local_name(src, imp) not in (None, imp):
            return skip(f"{imp} is imported under another name in {src.path.name}")
        if declared(src, imp, call) is not None:
            return skip(f"the name {imp} is declared here, so the {imp} package cannot be used")
    rationale = {
        "Errorf": "fmt.Errorf of a constant message is errors.New without the formatting",
        "Fprintf": "io.WriteString writes a string without boxing it into an interface",
    }.get(fn, "strconv and concatenation format basic values without boxing them into interfaces")
    return Proposal(
        codemod=NAME,
        package=ctx.package.import_path,
        path=src.path,
        line=line,
        function=function,
        edits=(Edit.replace(src, call, new),),
        targets=targets,
        rationale=rationale,
        pattern=pattern,
        add_imports=tuple((src.path, imp) for imp in sorted(imports)),
        drop_imports=((src.path, "fmt"),),
        # A concatenation's result is what Sprintf allocated out of the compiler's sight; one the call
        # was already part of is the same allocation, which the compiler now spells `~r0 + "x"`.
        allowed_new=(r" \+ ",) if " + " in new or call.parent.type == "binary_expression" else (),
    )
