"""Call the string twin of an API instead of converting a string to compare, range or match it.

`strings.ToLower(a) == strings.ToLower(b)` (or ToUpper) builds a copy of each side that holds
an upper-case letter only to compare them; `strings.EqualFold(a, b)` compares in place
(staticcheck SA6005). Both go rune by rune, but EqualFold asks whether two runes fold alike, not
whether they lower alike: ſ and s, ς and σ, the Kelvin sign and k fold alike, while İ lowers to i
and ı uppers to I without folding with it. Checking every rune against every ASCII byte shows
that against an ASCII letter the two part only at i and s for ToLower (İ, ſ) and at i and k for
ToUpper (ı, the Kelvin sign). So the rewrite is taken only where go/types shows both operands are
ASCII constants, or one is an ASCII constant without those two letters in either case.
`range []rune(s)` copies the runes to a fresh slice (a stack buffer holds only 32); `range s`
decodes the same runes in place, so the loop is rewritten only when it ignores the index, which
counts bytes over a string. `re.Match([]byte(s))` of a *regexp.Regexp copies s to bytes that
escape into the matcher; `re.MatchString(s)` reads s itself. The compiler reports only that last
copy; the other two are made inside strings and the runtime, so fewer allocations at run time
prove them.

Before:  if strings.ToLower(h) == strings.ToLower("Content-Type") { for _, r := range []rune(s) { ... } }
After:   if strings.EqualFold(h, "Content-Type") { for _, r := range s { ... } }
"""

from __future__ import annotations

import ast

from goescape.engine.codemod import Match, Pattern
from goescape.engine.edits import Edit
from goescape.engine.gotypes import GoType
from goescape.engine.parsing import Node, SourceFile
from goescape.engine.passes import Pass

NAME = "bytes-twin"
# The compiler reports nothing for this pattern itself, so every file of the package is read.
ANCHORED = False
PATTERNS = (
    Pattern(
        "equalfold",
        differs="differs for non-ASCII letters that fold alike but change case apart (ſ and s, ς and σ, "
        "the Kelvin sign and k) or change case alike but do not fold (İ and i, ı and I)",
    ),
    Pattern("rangerunes"),  # range []rune(s) → range s, the index unused
    Pattern("matchstring"),  # re.Match([]byte(s)) → re.MatchString(s)
)
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
  function: (selector_expression operand: (_) @rx field: (field_identifier) @method)
  arguments: (argument_list .
    (type_conversion_expression type: (slice_type element: (type_identifier) @elem) operand: (_) @s) @conv .)
  (#eq? @method "Match") (#eq? @elem "byte")) @match
"""

# The ASCII letters c where Fn(x) == Fn(c) and EqualFold(x, c) part, with the one rune x that parts them.
_PARTS = {"ToLower": {"i": "İ", "s": "ſ"}, "ToUpper": {"i": "ı", "k": "\u212a"}}
_RUNTIME = "the copy is made inside strings or the runtime, out of the compiler's sight"


def propose(match: Match, pass_: Pass) -> None:
    src = match.src
    if (fold := match.one("fold")) is not None:
        return _fold(match, pass_, src, fold)
    node, s, conv = match.one("range") or match.one("match"), match.one("s"), match.one("conv")
    if node is None or s is None or conv is None:
        return
    call, rx = match.one("match"), match.one("rx")
    targets = [f for f in pass_.facts_within(src, conv) if f.expr.startswith("([]byte)(")]
    if call is not None and not targets:
        return  # a Match whose bytes do not escape: []byte(b) of a []byte copies nothing
    typ = pass_.type_of(src, s)
    if typ is None or not typ.string or typ.kind != "basic":
        what = typ.text if typ is not None else "of no type go/types knows"
        return pass_.skip(src, node, f"{src.text(s)} is {what}, not a string", targets)
    if match.one("range") is not None:
        left = node.child_by_field_name("left")
        keys = left.named_children if left is not None else []
        if keys and src.text(keys[0]) != "_":
            reason = f"the index {src.text(keys[0])} counts runes over []rune(s) but bytes over a string"
            return pass_.skip(src, node, reason)
        why = "ranging over a string decodes its runes in place instead of copying them to a []rune"
        edit = Edit.replace(src, conv, src.text(s))
        return pass_.report(
            src, node, [edit], targets=[], rationale=why, pattern="rangerunes", proof="runtime", if_unproven=_RUNTIME
        )
    if call is None or rx is None:
        return
    regexp = pass_.type_of(src, rx)
    if regexp is None or regexp.text not in ("*regexp.Regexp", "regexp.Regexp"):
        what = regexp.text if regexp is not None else "of no type go/types knows"
        return pass_.skip(src, call, f"{src.text(rx)} is {what}, not a *regexp.Regexp with MatchString", targets)
    arg = src.text(s) if typ.text in ("string", "untyped string") else f"string({src.text(s)})"
    why = "(*regexp.Regexp).MatchString reads the string itself; Match needs a []byte copy that escapes"
    edit = Edit.replace(src, call, f"{src.text(rx)}.MatchString({arg})")
    pass_.report(src, call, [edit], targets=targets, rationale=why, pattern="matchstring")


def _fold(match: Match, pass_: Pass, src: SourceFile, fold: Node) -> None:
    """strings.ToLower(a) == strings.ToLower(b) → strings.EqualFold(a, b), where proven alike."""
    pkg, pkg2, a, b, fn = match.one("pkg"), match.one("pkg2"), match.one("a"), match.one("b"), match.text("fn")
    if pkg is None or pkg2 is None or a is None or b is None or fn != match.text("fn2"):
        return
    if any((obj := pass_.object_of(src, p)) is None or obj.imported != "strings" for p in (pkg, pkg2)):
        return  # not the strings package, or a local name hides it
    sides = [(src.text(n), _ascii(pass_.type_of(src, n))) for n in (a, b)]
    proven = "both operands are ASCII constants" if all(v is not None for _, v in sides) else ""
    for name, value in sides:
        parting = sorted(set(value.lower()) & _PARTS[fn].keys()) if value is not None else []
        if value is not None and parting and not proven:
            c = parting[0]
            why = f"{name} holds {c}: strings.{fn} and strings.EqualFold disagree whether {_PARTS[fn][c]} matches it"
            return pass_.skip(src, fold, why)
        if value is not None:
            letters = " or ".join(_PARTS[fn])
            proven = proven or f"{name} is an ASCII constant without {letters}, the only letters where they part"
    new = f"{src.text(pkg)}.EqualFold({src.text(a)}, {src.text(b)})"
    pass_.report(
        src,
        fold,
        [Edit.replace(src, fold, ("!" if match.text("op") == "!=" else "") + new)],
        targets=[],
        rationale=f"strings.EqualFold compares without the copies strings.{fn} makes",
        pattern="equalfold",
        proven=proven,
        proof="runtime",
        if_unproven=_RUNTIME,
    )


def _ascii(typ: GoType | None) -> str | None:
    """The value of a string constant made of ASCII bytes only, or None."""
    if typ is None or typ.constant is None or not typ.string or not typ.ascii:
        return None
    try:
        # go/constant spells it as strconv.Quote does; an invalid byte \xNN reads back as U+00NN.
        value = ast.literal_eval(typ.constant)
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, str) and value.isascii() else None
