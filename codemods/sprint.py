"""Replace fmt's interface boxing with strconv, hex, concatenation, errors.New and io.WriteString.

`fmt.Sprintf`, `Sprint` and `Fprintf` take `...any`: every argument is boxed into an interface,
and a boxed variable escapes to the heap (`n escapes to heap`). Where each verb has an exact twin
for the argument's type, as go/types gives it, the twin builds the same text with nothing boxed:
`%s`/`%v` of a string, `%s` of a []byte (`string(b)`), `%q` of a string or []byte
(strconv.Quote), `%d`/`%v`/`%x`/`%o`/`%b` of an integer (strconv in that base, `-ff` for -255 as
fmt prints it), `%c` of an integer of at most 32 bits, `%t`/`%v` of a bool, `%x` of a []byte
(hex.EncodeToString). A type whose method set has String, Error or Format keeps fmt, which calls
them; so do interfaces, floats, flags and widths. Go 1.25+ boxes small values without allocating,
so on those toolchains some of these save nothing at run time though the escape line goes away.

Before:  addr := fmt.Sprintf("%s:%d", host, port)
After:   addr := host + ":" + strconv.Itoa(port)
"""

from __future__ import annotations

import re

from goescape.engine.codemod import Edit, Match, Pass, Pattern
from goescape.engine.oracle import GoType
from goescape.engine.parsing import local_name

NAME = "sprint"
PATTERNS = (
    Pattern("string"),  # Sprintf("%s", s) → s
    Pattern("strconv"),  # Sprintf("%d", n) → strconv.Itoa(n)
    Pattern("concat"),  # Sprintf("%s:%d", h, p) → h + ":" + strconv.Itoa(p)
    Pattern("errorf"),  # Errorf("constant") → errors.New("constant")
    Pattern("fprintf"),  # Fprintf(w, "%s", s) → io.WriteString(w, s)
)
QUERY = """
(call_expression
  function: (selector_expression operand: (identifier) @pkg field: (field_identifier) @fn)
  arguments: (argument_list) @args
  (#eq? @pkg "fmt")
  (#match? @fn "^(Sprintf|Sprint|Errorf|Fprintf)$")) @call
"""

_DIRECTIVE = re.compile(r"%([^a-zA-Z%]*)(.?)", re.DOTALL)
_PERCENT_ESCAPE = re.compile(r"\\(x25|045|u0025|U00000025)")  # a `%` fmt sees but the text does not show
_OPERAND_OF = {"index_expression", "slice_expression"}
# Primary expressions: an index or a slice of one needs no parentheses (the Go spec's PrimaryExpr).
_PRIMARY = {
    *("identifier", "selector_expression", "call_expression", "index_expression", "slice_expression"),
    *("parenthesized_expression", "type_assertion_expression", "type_conversion_expression"),
    *("interpreted_string_literal", "raw_string_literal"),
}
_BASES = {"d": 10, "v": 10, "x": 16, "o": 8, "b": 2}


def _render(arg: str, t: GoType, verb: str) -> tuple[str, set[str]] | str:
    """Go text printing `arg` exactly as `%verb` does, with its imports; or why there is none."""
    # fmt calls Format for every verb, Error and String only for the verbs a string takes (v s x X q).
    calls = {"Format"} | ({"Error", "String"} if verb in "vsxXq" else set())
    if t.is_interface:
        return f"{arg} is an interface ({t.text}): the value inside decides the text"
    if methods := sorted(calls & t.methods):
        return f"{arg} ({t.text}) is printed by its {', '.join(methods)} method: fmt must call it"
    if t.string and verb in "sv":
        return (arg if t.text == "string" else f"string({arg})"), set()
    if t.string and verb == "q":
        return f"strconv.Quote({arg if t.text == 'string' else f'string({arg})'})", {"strconv"}
    if t.is_byte_slice and verb == "s":
        return f"string({arg})", set()
    if t.is_byte_slice and verb == "q":
        return f"strconv.Quote(string({arg}))", {"strconv"}
    if t.is_byte_slice and verb == "x":
        return f"hex.EncodeToString({arg})", {"encoding/hex"}
    if t.boolean and verb in "tv":
        return f"strconv.FormatBool({arg if t.text == 'bool' else f'bool({arg})'})", {"strconv"}
    if t.integer and verb in _BASES:
        base = _BASES[verb]
        if t.text == "int" and base == 10:
            return f"strconv.Itoa({arg})", {"strconv"}
        wide = "uint64" if t.unsigned else "int64"
        value = arg if t.text == wide else f"{wide}({arg})"
        return f"strconv.Format{'Uint' if t.unsigned else 'Int'}({value}, {base})", {"strconv"}
    if t.integer and verb == "c" and (t.size or 8) <= 4:
        return (f"string({arg})" if t.text in ("rune", "int32") else f"string(rune({arg}))"), set()
    return f"%{verb} of {arg} ({t.text}) has no twin that prints the same text for every value"


def _parse(body: str) -> tuple[list[str], list[str]] | str:
    """A format's literal pieces (one more than its verbs) and verbs, or the directive that has no twin."""
    pieces, verbs, pos = [""], [], 0
    for m in _DIRECTIVE.finditer(body):
        pieces[-1] += body[pos : m.start()]
        pos = m.end()
        if m.group() == "%%":
            pieces[-1] += "%"
        elif m.group(1) or m.group(2) not in "sdvtqxobc" or not m.group(2):
            return m.group()
        else:
            verbs.append(m.group(2))
            pieces.append("")
    pieces[-1] += body[pos:]
    return pieces, verbs


def propose(match: Match, pass_: Pass) -> None:
    src, call, fn, args_node = match.src, match.one("call"), match.text("fn"), match.one("args")
    if call is None or args_node is None or call.parent is None or local_name(src, "fmt") != "fmt":
        return
    args = args_node.named_children
    targets = tuple(f for f in pass_.facts_within(src, args_node) if any(f.expr == src.text(a) for a in args))
    if fn == "Errorf":
        targets = tuple(pass_.facts_within(src, call))
    if not targets or any(a.type == "variadic_argument" for a in args):
        return  # nothing here escapes, or the arguments are a slice already boxed
    if call.parent.type == "expression_statement" and fn != "Fprintf":
        return  # an unused result is go vet's business, not ours
    if any(a.type == "comment" for a in args):
        return pass_.skip(src, call, "a comment inside the call would be lost", targets)
    writer, values = (args[0], args[1:]) if fn == "Fprintf" else (None, args)
    if fn == "Sprint":
        if len(values) != 1:
            return  # Sprint puts spaces between some operands; one operand has none
        fmt_text = '"%v"'
    elif values and values[0].type in ("interpreted_string_literal", "raw_string_literal"):
        fmt_text, values = src.text(values[0]), values[1:]
    else:
        return
    if fn == "Errorf" and values:
        return  # Errorf with arguments may wrap an error (%w); only a constant message is plain
    if fn == "Errorf" and all("fmt.Errorf" in t.inlined for t in targets):
        reason = "this toolchain already inlines fmt.Errorf of a constant into errors.New: nothing to gain"
        return pass_.skip(src, call, reason, targets)
    quote, body = fmt_text[0], fmt_text[1:-1]
    if quote == '"' and _PERCENT_ESCAPE.search(body):
        return pass_.skip(src, call, "the format spells % with an escape sequence", targets)
    parsed = _parse(body)
    if isinstance(parsed, str):
        return pass_.skip(src, call, f"{parsed} has a flag, width or verb that no single call prints alike", targets)
    literals, verbs = parsed
    if len(verbs) != len(values):
        return pass_.skip(src, call, f"the format has {len(verbs)} verbs for {len(values)} arguments", targets)

    imports: set[str] = set()
    if fn == "Errorf":
        new, imports, pattern = f"errors.New({quote}{literals[0]}{quote})", {"errors"}, "errorf"
    else:
        pieces = [f"{quote}{literals[0]}{quote}"] if literals[0] else []
        bare = False  # an argument kept as written that is no primary expression (`a + b`, `<-ch`)
        for value, verb, literal in zip(values, verbs, literals[1:], strict=True):
            typ = pass_.type_of(src, value)
            if typ is None:
                return pass_.skip(src, call, pass_.no_type(src, value), targets)
            rendered = _render(src.text(value), typ, verb)
            if isinstance(rendered, str):
                return pass_.skip(src, call, rendered, targets)
            pieces.append(rendered[0])
            imports |= rendered[1]
            bare = bare or (rendered[0] == src.text(value) and value.type not in _PRIMARY)
            if literal:
                pieces.append(f"{quote}{literal}{quote}")
        new = " + ".join(pieces)
        pattern = "concat" if len(pieces) > 1 else "strconv" if imports else "string"
        if writer is not None:
            if len(pieces) != 1 or imports:
                why = 'only Fprintf(w, "%s", s) of a string writes the same without building the text first'
                return pass_.skip(src, call, why, targets)
            new, imports, pattern = f"io.WriteString({src.text(writer)}, {new})", {"io"}, "fprintf"
        elif (len(pieces) > 1 or bare) and call.parent.type in _OPERAND_OF:
            # Indexed or sliced, a concatenation or other operator needs parentheses; anywhere
            # else a string is allowed (an argument, either side of `+` or `==`) it needs none.
            operand = call.parent.child_by_field_name("operand")
            new = f"({new})" if operand is not None and operand.start_byte == call.start_byte else new
    for imp in sorted(imports):
        if problem := pass_.import_problem(src, call, imp):
            return pass_.skip(src, call, problem, targets)
    rationale = {
        "Errorf": "fmt.Errorf of a constant message is errors.New without the formatting",
        "Fprintf": "io.WriteString writes a string without boxing it into an interface",
    }.get(fn, "strconv and concatenation format basic values without boxing them into interfaces")
    pass_.report(
        src,
        call,
        [Edit.replace(src, call, new)],
        targets=targets,
        rationale=rationale,
        pattern=pattern,
        add_imports=imports,
        drop_imports=["fmt"],
        # The text Sprintf allocated out of the compiler's sight is now in sight: a concatenation
        # (`~r0 + "x"` when the call was already part of one) or a conversion's `string(...)`.
        allowed_new=[r" \+ ", r"^string\("] if fn != "Fprintf" else [],
    )
