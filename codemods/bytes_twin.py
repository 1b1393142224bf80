"""Call the string twin of an API instead of converting a string to compare, range or match it.

`strings.ToLower(a) == strings.ToLower(b)` (or ToUpper) builds two lowered copies, for strings
holding an upper-case letter, only to compare them; `strings.EqualFold` compares in place (staticcheck
SA6005). It folds Unicode case rune by rune, so beyond ASCII a few pairs compare differently:
U+0130 (dotted capital I) and "i" lower alike but do not fold alike; U+017F (long s) and "s", or
"Σ" and final "ς", fold alike but do not lower alike. `range []rune(s)` copies the runes to a
fresh slice (a stack buffer holds only 32); `range s` decodes the same runes in place, so the loop
is rewritten only when it ignores the index, which counts bytes over a string.
`re.Match([]byte(s))` of a *regexp.Regexp copies s to bytes that escape into the matcher;
`re.MatchString(s)` reads s itself. The compiler reports only that last copy; the other two are
made inside strings and the runtime, so fewer allocations at run time prove them.

Before:  if strings.ToLower(a) == strings.ToLower(b) { for _, r := range []rune(s) { ... } }
After:   if strings.EqualFold(a, b) { for _, r := range s { ... } }
"""

from __future__ import annotations

from goescape.engine.codemod import Context, Edit, Match, Proposal, Skip
from goescape.engine.parsing import local_name
from goescape.engine.facts import EscapeFact
from goescape.engine.parsing import Node, SourceFile
from goescape.engine.typeinfo import basic_type, declared

NAME = "bytes-twin"
# The compiler reports nothing for this pattern itself, so every file of the package is read.
ANCHORED = False
QUERY = """
(binary_expression
  left: (call_expression
    function: (selector_expression operand: (identifier) @pkg field: (field_identifier) @fn)
    arguments: (argument_list . (_) @a .))
  operator: ["==" "!="] @op
  right: (call_expression
    function: (selector_expression operand: (identifier) @pkg2 field: (field_identifier) @fn2)
    arguments: (argument_list . (_) @b .))
  (#match? @fn "^To(Lower|Upper)$")) @fold
(range_clause
  right: (type_conversion_expression type: (slice_type element: (type_identifier) @elem) operand: (_) @s) @conv
  (#eq? @elem "rune")) @range
(call_expression
  function: (selector_expression operand: (identifier) @re field: (field_identifier) @method)
  arguments: (argument_list .
    (type_conversion_expression type: (slice_type element: (type_identifier) @elem) operand: (_) @s) @conv .)
  (#eq? @method "Match") (#eq? @elem "byte")) @match
"""

_COMPILE = ("MustCompile", "MustCompilePOSIX", "Compile", "CompilePOSIX")


def propose(match: Match, ctx: Context) -> Proposal | Skip | None:
    src = match.src
    node = match.one("fold") or match.one("range") or match.one("match")
    if node is None:
        return None
    func = ctx.function_of(src, node)
    name = func.child_by_field_name("name") if func is not None else None
    line, function = src.line_of(node.start_byte), src.text(name) if name is not None else ""

    def proposal(new: str, targets: tuple[EscapeFact, ...], pattern: str, why: str, at: Node) -> Proposal:
        runtime = pattern != "matchstring"
        return Proposal(
            codemod=NAME,
            package=ctx.package.import_path,
            path=src.path,
            line=line,
            function=function,
            edits=(Edit.replace(src, at, new),),
            targets=targets,
            rationale=why,
            pattern=pattern,
            proof="runtime" if runtime else "escape",
            if_unproven="the copy is made inside strings or the runtime, out of the compiler's sight"
            if runtime
            else "",
        )

    if match.one("fold") is not None:
        pkg, fn = match.text("pkg"), match.text("fn")
        if (pkg, fn) != (match.text("pkg2"), match.text("fn2")) or local_name(src, "strings") != pkg:
            return None
        if declared(src, pkg, node) is not None:
            return None  # a local name hides the strings package
        new = f"{pkg}.EqualFold({match.text('a')}, {match.text('b')})"
        why = f"strings.EqualFold compares without the copies strings.{fn} makes; beyond ASCII it folds"
        why += " a few runes differently (U+0130, U+017F, final sigma)"
        return proposal(("!" if match.text("op") == "!=" else "") + new, (), "equalfold", why, node)

    s, conv, call, re = match.one("s"), match.one("conv"), match.one("match"), match.one("re")
    targets = tuple(f for f in ctx.facts_within(src, conv) if f.expr.startswith("([]byte)(")) if conv else ()
    if s is None or conv is None or (call is not None and not targets):
        return None  # a Match whose bytes do not escape: []byte(b) of a []byte copies nothing
    if basic_type(src, s) != "string":
        why = f"{src.text(s)} is not declared a string here (a named type or a slice is left alone)"
        return Skip(NAME, src.path, line, function, why, targets)
    if match.one("range") is not None:
        left = node.child_by_field_name("left")
        keys = left.named_children if left is not None else []
        if keys and src.text(keys[0]) != "_":
            reason = f"the index {src.text(keys[0])} counts runes over []rune(s) but bytes over a string"
            return Skip(NAME, src.path, line, function, reason)
        why = "ranging over a string decodes its runes in place instead of copying them to a []rune"
        return proposal(src.text(s), (), "rangerunes", why, conv)
    if call is None or re is None:
        return None
    if not _is_regexp(src, re):
        why = f"{src.text(re)} is not known to be a *regexp.Regexp from its declaration in {src.path.name}"
        return Skip(NAME, src.path, line, function, why, targets)
    why = "(*regexp.Regexp).MatchString reads the string itself; Match needs a []byte copy that escapes"
    return proposal(f"{src.text(re)}.MatchString({src.text(s)})", targets, "matchstring", why, call)


def _is_regexp(src: SourceFile, ident: Node) -> bool:
    """Whether the declaration of `ident` in this file says it is a *regexp.Regexp."""
    rx, found = local_name(src, "regexp"), declared(src, src.text(ident), ident)
    if rx is None or found is None:
        return False
    if found.type is not None:
        return found.type.replace(" ", "") == f"*{rx}.Regexp"
    value, decl = found.value, found.node
    if value is None:  # `re, err := regexp.Compile(...)`: the first of two results
        left = decl.child_by_field_name("left")
        names = left.named_children if left is not None else decl.children_by_field_name("name")
        right = decl.child_by_field_name("right") or decl.child_by_field_name("value")
        only = right.named_children if right is not None and right.type == "expression_list" else [right]
        value = only[0] if len(only) == 1 and names and src.text(names[0]) == src.text(ident) else None
    fn = value.child_by_field_name("function") if value is not None and value.type == "call_expression" else None
    return fn is not None and src.text(fn) in {f"{rx}.{c}" for c in _COMPILE}
