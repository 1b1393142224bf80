"""Replace fmt's and log's interface boxing with strconv, hex, concatenation, errors.New and Output.

`fmt.Sprintf`, `Sprint`, `Sprintln`, `Errorf`, `Print*`, `log.Print*` and `(*log.Logger).Print*`
take `...any`: every argument is boxed into an interface, and a boxed variable escapes to the heap
(`n escapes to heap`). Where each verb has an exact twin for the argument's type, as go/types
gives it, the twin builds the same text with nothing boxed: `%s`/`%v` of a string, `%s` of a
[]byte (`string(b)`), `%q` of a string or []byte (strconv.Quote), `%x` of a []byte
(hex.EncodeToString), `%d`/`%v`/`%x`/`%o`/`%b` of an integer (strconv in that base, `-ff` for -255
as fmt prints it), `%c` of an integer of at most 32 bits (string(rune); both print U+FFFD past
utf8.MaxRune), `%t`/`%v` of a bool. `%x` of a string and `%q` of a rune have twins too, but
measured on go1.26.8 they allocate as much as fmt (a []byte copy; QuoteRune's own buffer). Sprint puts a space between two
operands when neither is a string, Sprintln between every two and a newline at the end; the
concatenation does the same, as the types say. `Errorf` without `%w` is `errors.New` of the text
(fmt's own errorf ends in errors.New); `log.Printf` is `log.Output(1, text)`, the call log.Printf
makes itself, so Lshortfile still names the caller; `fmt.Print(s)` of one string is
`os.Stdout.WriteString(s)`. A type whose method set has String, Error or Format keeps fmt, which
calls them; so do interfaces, floats, `%w`, flags and widths (no twin pads alike: `%06d` of -42 is
-00042). Go 1.25+ boxes small values without allocating, so on those toolchains some of these save
nothing at run time though the escape line goes away.

Before:  addr := fmt.Sprintf("%s:%d", host, port)
After:   addr := host + ":" + strconv.Itoa(port)
"""

from __future__ import annotations

import re
from itertools import pairwise

from goescape.engine.codemod import Match, Pattern
from goescape.engine.edits import Edit
from goescape.engine.gotypes import GoType
from goescape.engine.parsing import Node, SourceFile, local_name
from goescape.engine.passes import Pass

NAME = "sprint"
PATTERNS = (
    Pattern("string"),  # Sprintf("%s", s) → s
    Pattern("strconv"),  # Sprintf("%d", n) → strconv.Itoa(n)
    Pattern("concat"),  # Sprintf("%s:%d", h, p), Sprintln(a, b) → h + ":" + strconv.Itoa(p)
    Pattern("errorf"),  # Errorf("constant") → errors.New("constant")
    Pattern("errorf-args"),  # Errorf("open %s", name) → errors.New("open " + name)
    Pattern("fprintf"),  # Fprintf(w, "%s", s) → io.WriteString(w, s)
    Pattern("print"),  # fmt.Print(s), fmt.Printf("%s", s) → os.Stdout.WriteString(s)
    Pattern("log"),  # log.Printf("n=%d", n) → log.Output(1, "n="+strconv.Itoa(n))
)
QUERY = """
(call_expression
  function: (selector_expression operand: (_) @recv field: (field_identifier) @fn)
  arguments: (argument_list) @args
  (#match? @fn "^(Sprintf|Sprint|Sprintln|Errorf|Fprintf|Printf|Print|Println)$")) @call
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
    if t.integer and verb == "c" and (t.size or 8) <= 4:  # fmt and string() both print U+FFFD past MaxRune
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


def _joined(pieces: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Adjacent string literals of one kind of quote joined into one: `"a" + "b"` → `"ab"`."""
    out: list[tuple[str, str]] = []
    for text, quote in pieces:
        if out and quote and out[-1][1] == quote:
            out[-1] = (out[-1][0][:-1] + text[1:], quote)
        else:
            out.append((text, quote))
    return out


def _family(pass_: Pass, src: SourceFile, recv: Node, fn: str) -> str:
    """ "fmt" or "log" when `recv.fn` is that package's printing function or a *log.Logger's; else ""."""
    if recv.type == "identifier":
        obj = pass_.object_of(src, recv)
        if obj is not None and obj.kind == "pkgname":
            if obj.imported == "fmt" and local_name(src, "fmt") == src.text(recv):
                return "fmt"
            return "log" if obj.imported == "log" and fn in ("Print", "Printf", "Println") else ""
    typ = pass_.type_of(src, recv)
    return "log" if typ is not None and typ.text == "*log.Logger" and fn in ("Print", "Printf", "Println") else ""


def propose(match: Match, pass_: Pass) -> None:
    src, call, fn, recv, args_node = (
        match.src,
        match.one("call"),
        match.text("fn"),
        match.one("recv"),
        match.one("args"),
    )
    if call is None or recv is None or args_node is None or call.parent is None:
        return
    if not (family := _family(pass_, src, recv, fn)):
        return
    args = args_node.named_children
    targets = tuple(f for f in pass_.facts_within(src, args_node) if any(f.expr == src.text(a) for a in args))
    if fn == "Errorf" and len(args) == 1:  # a constant message: the error itself is the target
        targets = tuple(pass_.facts_within(src, call))
    if not targets or any(a.type == "variadic_argument" for a in args):
        return  # nothing here escapes, or the arguments are a slice already boxed
    if call.parent.type == "expression_statement" and (fn[0] == "S" or fn == "Errorf"):
        return  # an unused result is go vet's business, not ours
    if any(a.type == "comment" for a in args):
        return pass_.skip(src, call, "a comment inside the call would be lost", targets)
    writer, values = (args[0], args[1:]) if fn == "Fprintf" else (None, args)
    quote = '"'
    if not fn.endswith("f"):
        if not values:
            return
        literals, verbs = [""] + [" "] * (len(values) - 1) + ["\\n" if fn.endswith("ln") else ""], ["v"] * len(values)
    elif values and values[0].type in ("interpreted_string_literal", "raw_string_literal"):
        fmt_text, values = src.text(values[0]), values[1:]
        quote, body = fmt_text[0], fmt_text[1:-1]
        if quote == '"' and _PERCENT_ESCAPE.search(body):
            return pass_.skip(src, call, "the format spells % with an escape sequence", targets)
        parsed = _parse(body)
        if isinstance(parsed, str):
            why = f"{parsed} has a flag, width or verb that no single call prints alike"
            why = "%w wraps an error that errors.Is and errors.As must find" if parsed == "%w" else why
            return pass_.skip(src, call, why, targets)
        literals, verbs = parsed
    else:
        return
    if len(verbs) != len(values):
        return pass_.skip(src, call, f"the format has {len(verbs)} verbs for {len(values)} arguments", targets)
    if fn == "Errorf" and not values and all("fmt.Errorf" in t.inlined for t in targets):
        reason = "this toolchain already inlines fmt.Errorf of a constant into errors.New: nothing to gain"
        return pass_.skip(src, call, reason, targets)
    types: list[GoType] = []
    for value in values:
        if (typ := pass_.type_of(src, value)) is None:
            return pass_.skip(src, call, pass_.no_type(src, value), targets)
        types.append(typ)
    if fn in ("Sprint", "Print"):  # fmt's doPrint: a space between operands when neither is a string
        literals[1:-1] = [" " if not (a.string or b.string) else "" for a, b in pairwise(types)]

    imports: set[str] = set()
    pieces = [(f"{quote}{literals[0]}{quote}", quote)] if literals[0] else []  # (Go text, its quote or "")
    bare = False  # an argument kept as written that is no primary expression (`a + b`, `<-ch`)
    for value, typ, verb, literal in zip(values, types, verbs, literals[1:], strict=True):
        rendered = _render(src.text(value), typ, verb)
        if isinstance(rendered, str):
            return pass_.skip(src, call, rendered, targets)
        as_is = rendered[0] == src.text(value)
        pieces.append((rendered[0], src.text(value)[0] if as_is and value.type.endswith("string_literal") else ""))
        imports |= rendered[1]
        bare = bare or (as_is and value.type not in _PRIMARY)
        if literal:
            pieces.append((f"{quote}{literal}{quote}", quote))
    pieces = _joined(pieces)
    new = " + ".join(text for text, _ in pieces) or '""'
    pattern = "concat" if len(pieces) > 1 else "strconv" if imports else "string"
    if family == "log":
        new, pattern = f"_ = {src.text(recv)}.Output(1, {new})", "log"
    elif fn == "Errorf":
        new, pattern = f"errors.New({new})", "errorf-args" if values else "errorf"
        imports.add("errors")
    elif fn[0] in "FP":
        if len(pieces) != 1 or imports:
            why = "only a string printed alone writes the same without building the text first"
            return pass_.skip(src, call, why, targets)
        if writer is not None:
            new, imports, pattern = f"io.WriteString({src.text(writer)}, {new})", {"io"}, "fprintf"
        else:
            new, imports, pattern = f"os.Stdout.WriteString({new})", {"os"}, "print"
    elif (len(pieces) > 1 or bare) and call.parent.type in _OPERAND_OF:
        # Indexed or sliced, a concatenation or other operator needs parentheses; anywhere
        # else a string is allowed (an argument, either side of `+` or `==`) it needs none.
        operand = call.parent.child_by_field_name("operand")
        new = f"({new})" if operand is not None and operand.start_byte == call.start_byte else new
    for imp in sorted(imports):
        if problem := pass_.import_problem(src, call, imp):
            return pass_.skip(src, call, problem, targets)
    rationale = {
        "errorf": "fmt.Errorf of a constant message is errors.New without the formatting",
        "errorf-args": "fmt.Errorf without %w ends in errors.New of its text: the text is built without boxing",
        "fprintf": "io.WriteString writes a string without boxing it into an interface",
        "print": "os.Stdout.WriteString writes a string without boxing it into an interface",
        "log": "log.Output is the call log.Printf makes, given text built without boxing",
    }.get(pattern, "strconv and concatenation format basic values without boxing them into interfaces")
    pass_.report(
        src,
        call,
        [Edit.replace(src, call, new)],
        targets=targets,
        rationale=rationale,
        pattern=pattern,
        add_imports=imports,
        drop_imports=["fmt"] if family == "fmt" else [],
        # The text Sprintf allocated out of the compiler's sight is now in sight: a concatenation
        # (`~r0 + "x"` when the call was already part of one) or a conversion's `string(...)`.
        allowed_new=[r" \+ ", r"^string\(", r"^\[\]byte\("] if fn != "Fprintf" else [],
    )
