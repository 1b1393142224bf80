"""Replace fmt's interface boxing with strconv, concatenation, errors.New and io.WriteString.

`fmt.Sprintf`, `Sprint` and `Fprintf` take `...any`: every argument is boxed into an interface,
and a boxed variable escapes to the heap (`n escapes to heap`). When the verbs are plain `%s`,
`%d`, `%v` or `%t` and each argument's type is a basic type known from its declaration, strconv
or a string concatenation builds the same text with nothing boxed. A named type (it may have a
String method), an error, a Stringer or `%v` of an interface stays as it is. Go 1.25+ boxes small
values without allocating, so some of these save nothing at run time there: the report says so.

Before:  addr := fmt.Sprintf("%s:%d", host, port)
After:   addr := host + ":" + strconv.Itoa(port)
"""

from __future__ import annotations

import re

from goescape.engine.codemod import Context, Edit, Match, Proposal, Skip
from goescape.engine.edits import local_name
from goescape.engine.typeinfo import basic_type

NAME = "sprint"
QUERY = """
(call_expression
  function: (selector_expression operand: (identifier) @pkg field: (field_identifier) @fn)
  arguments: (argument_list) @args
  (#eq? @pkg "fmt")
  (#match? @fn "^(Sprintf|Sprint|Errorf|Fprintf)$")) @call
"""

_VERB = re.compile(r"%(.)")
_INTS = {"int8", "int16", "int32", "rune"}
_UINTS = {"uint", "uint8", "uint16", "uint32", "byte", "uintptr"}
_WRAP = {"expression_list", "argument_list", "return_statement", "keyed_element", "literal_element", "var_spec"}


def _render(arg: str, typ: str, verb: str) -> tuple[str, str] | None:
    """Go text for one formatted argument, and the import it needs ("" for none)."""
    if typ == "string" and verb in "sv":
        return arg, ""
    if typ == "bool" and verb in "tv":
        return f"strconv.FormatBool({arg})", "strconv"
    if verb not in "dv":
        return None
    if typ == "int":
        return f"strconv.Itoa({arg})", "strconv"
    if typ == "int64":
        return f"strconv.FormatInt({arg}, 10)", "strconv"
    if typ in _INTS:
        return f"strconv.FormatInt(int64({arg}), 10)", "strconv"
    if typ == "uint64":
        return f"strconv.FormatUint({arg}, 10)", "strconv"
    if typ in _UINTS:
        return f"strconv.FormatUint(uint64({arg}), 10)", "strconv"
    return None


def propose(match: Match, ctx: Context) -> Proposal | Skip | None:
    src, call, fn = match.src, match.one("call"), match.text("fn")
    args_node = match.one("args")
    if call is None or args_node is None:
        return None
    args = [a for a in args_node.named_children if a.type != "comment"]
    func = ctx.function_of(src, call)
    function = src.text(func.child_by_field_name("name")) if func and func.child_by_field_name("name") else ""
    line = src.line_of(call.start_byte)
    targets = tuple(f for f in ctx.facts_within(src, args_node) if any(f.expr == src.text(a) for a in args))

    def skip(reason: str) -> Skip:
        return Skip(NAME, src.path, line, function, reason, targets)

    writer = None
    if fn == "Fprintf":
        if len(args) != 3 or src.text(args[1]) != '"%s"':
            return None
        writer, args = args[0], args[1:]
    if fn == "Sprint":
        if len(args) != 1:
            return None
        fmt_text, values = '"%v"', args
    else:
        if not args or args[0].type != "interpreted_string_literal":
            return None
        fmt_text, values = src.text(args[0]), args[1:]
    body = fmt_text[1:-1]
    if any(a.type == "variadic_argument" for a in args) or "..." in src.text(args_node)[-5:]:
        return None

    if fn == "Errorf":
        if values or "%" in body or local_name(src, "errors") not in (None, "errors"):
            return None
        new, imports = f"errors.New({fmt_text})", {"errors"}
    else:
        pieces: list[str] = []
        imports = set()
        verbs = _VERB.findall(body)
        if "%%" in body or len(verbs) != len(values):
            return None
        if not targets:
            return None  # nothing here escapes: constants and already-unboxed values
        parts = _VERB.split(body)
        for i, value in enumerate(values):
            verb = parts[2 * i + 1]
            typ = basic_type(src, value)
            if typ is None:
                return skip(f"the type of {src.text(value)} is not known from its declaration")
            rendered = _render(src.text(value), typ, verb)
            if rendered is None:
                return skip(f"%{verb} of a {typ} has no plain strconv or concatenation twin")
            literal = parts[2 * i]
            if literal:
                pieces.append(f'"{literal}"')
            pieces.append(rendered[0])
            if rendered[1]:
                imports.add(rendered[1])
        tail = parts[-1]
        if tail:
            pieces.append(f'"{tail}"')
        for imp in imports:
            if local_name(src, imp) not in (None, imp):
                return skip(f"{imp} is imported under another name in {src.path.name}")
        if writer is not None:
            if local_name(src, "io") not in (None, "io"):
                return skip(f"io is imported under another name in {src.path.name}")
            new, imports = f"io.WriteString({src.text(writer)}, {pieces[0]})", {"io"}
        else:
            new = " + ".join(pieces)
            parent = call.parent
            # String concatenation is associative, so inside another `+` no parentheses are needed.
            inside_plus = parent is not None and parent.type == "binary_expression" and any(
                c.type == "+" for c in parent.children
            )
            if len(pieces) > 1 and parent is not None and parent.type not in _WRAP and not inside_plus:
                new = f"({new})"
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
        targets=tuple(ctx.facts_within(src, call)) if fn == "Errorf" else targets,
        rationale=rationale,
        add_imports=tuple((src.path, imp) for imp in sorted(imports)),
        drop_imports=((src.path, "fmt"),),
        # The concatenation's result string is what Sprintf allocated out of the compiler's sight.
        allowed_new=(r" \+ ",) if " + " in new else (),
    )
