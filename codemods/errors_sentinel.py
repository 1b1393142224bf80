"""Make an error with a constant message once, as a package-level sentinel, not on every call.

`errors.New("empty key")` allocates a new `*errors.errorString` each time it runs
(`&errors.errorString{...} escapes to heap`), and Go 1.26 inlines `fmt.Errorf` of a constant
message into errors.New, so that allocates just the same. `var errEmptyKey = errors.New("empty
key")` allocates once at init; the function then returns it for free. The name is made of the
message's content words ("title must not be empty" is errTitleEmpty), never one taken by any file
of the package directory, whatever its build constraints, nor one added elsewhere in the same run.
An unexported sentinel with the same message that nothing compares is reused. Every function of the
package that makes the same message shares one sentinel, in one rewrite, so one run is enough; the
new var goes just above the first of them (above its doc comment).
Identity is the one behaviour that changes: two results used to be different errors and are now
the same one. go/types follows every result through variables, fields and callers in every package
of the module, tests included; where two of them could be told apart (`==` between them, a map
key, a switch case, errors.Is against another result) the rewrite is declined, naming the place.
Callers outside the module cannot be seen. Test files and an Errorf message holding a `%` are left alone.

Before:  func get(k string) error { if k == "" { return errors.New("empty key") }; return nil }
After:   var errEmptyKey = errors.New("empty key"); func get(k string) error { ...; return errEmptyKey }
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from goescape.engine.codemod import Match, Pattern
from goescape.engine.edits import Edit
from goescape.engine.facts import EscapeFact
from goescape.engine.parsing import FUNCTION_TYPES, Node, SourceFile, walk
from goescape.engine.passes import Pass

NAME = "errors-sentinel"
PATTERNS = (
    Pattern(
        "sentinel",
        differs="differs when code tells two results apart by identity: they are now one error, "
        "so `==` between them, map keys and errors.Is against an earlier result match",
    ),
)
QUERY = "[(function_declaration body: (block)) (method_declaration body: (block))] @func"

_STRINGS = ("interpreted_string_literal", "raw_string_literal")
_PERCENT = re.compile(r"%|\\(x25|045|u0025|U00000025)")  # a verb Errorf would format, spelled or escaped
# Words a person leaves out of a name: articles, copulas and modal verbs ("must not be" goes whole).
_FILLER = {"a", "an", "the", "is", "are", "be", "been", "was", "were", "must", "should", "can", "cannot", "may"}
_MODALS = {"must", "should", "can", "may", "could", "would", "will", "shall"}
_PREPOSITIONS = {"in", "to", "of", "for", "with", "on", "at", "by", "from", "into"}
_PUNCTUATION = {"[": "Bracket", "]": "Bracket", "{": "Brace", "}": "Brace", "(": "Paren", ")": "Paren"}
_PUNCTUATION |= {'"': "Quote", ",": "Comma", ":": "Colon", ";": "Semicolon", "=": "Equals"}
_QUALIFIED = {"selector_expression": "operand", "qualified_type": "package"}


def _message(pass_: Pass, src: SourceFile, call: Node) -> str | None:
    """The literal of `errors.New("...")` or of `fmt.Errorf("...")` with no arguments, or None."""
    fn, args = call.child_by_field_name("function"), call.child_by_field_name("arguments")
    if call.type != "call_expression" or fn is None or args is None or len(args.named_children) != 1:
        return None
    operand = fn.child_by_field_name("operand") if fn.type == "selector_expression" else None
    pkg = {"errors.New": "errors", "fmt.Errorf": "fmt"}.get(src.text(fn))
    if pkg is None or operand is None or args.named_children[0].type not in _STRINGS:
        return None
    obj = pass_.object_of(src, operand)
    return src.text(args.named_children[0]) if obj is not None and obj.imported == pkg else None


def _names(message: str, package: str) -> Iterator[str]:
    """Names for a message as a person would write them: errEmptyKey for "json: empty key"."""
    text = re.sub(r"\\.", " ", message[1:-1]).replace("'", "").removeprefix(f"{package}: ")
    raw = re.findall(r"[A-Za-z0-9]+", text)
    words = [
        w
        for i, w in enumerate(raw)
        if w.lower() not in _FILLER and not (w.lower() == "not" and i and raw[i - 1].lower() in _MODALS)
    ]
    marks = [_PUNCTUATION[c] for c in dict.fromkeys(message[1:-1]) if c in _PUNCTUATION]
    if len(words) <= 2 and marks:  # "missing ']'" and "missing '}'" differ only in their marks
        words += marks
    for n in range(min(4, len(words)), len(words) + 1):
        cut = words[:n]
        while len(cut) > 1 and n < len(words) and cut[-1].lower() in _PREPOSITIONS:
            cut = cut[:-1]  # "no files named in ..." is errNoFilesNamed
        if cut:
            yield "err" + "".join(w[:1].upper() + w[1:] for w in cut)
    if words:  # the short name is someone else's: qualify it by the package, errStoreEmptyKey
        yield "err" + "".join(w[:1].upper() + w[1:] for w in [package, *words[:4]])


def _reusable(pass_: Pass) -> dict[str, tuple[str, str]]:
    """Package-level `var errX = errors.New("...")`: message → (name, why it may not be reused, or "")."""
    found: dict[str, tuple[str, str]] = {}
    for src in pass_.files(tests=False):
        for spec in (n for d in src.root.named_children if d.type == "var_declaration" for n in walk(d)):
            names, value = spec.children_by_field_name("name"), spec.child_by_field_name("value")
            values = value.named_children if spec.type == "var_spec" and value is not None else []
            if len(names) != 1 or len(values) != 1 or (message := _message(pass_, src, values[0])) is None:
                continue
            name, why = src.text(names[0]), ""
            if name[0].isupper():
                why = f"{name}, with the same message, is exported: callers' errors.Is would match"
            elif compared := pass_.identity_uses_of_value(src, names[0]):
                why = f"{name}, with the same message, is used at {compared[0].describe()}: new results would match it"
            found.setdefault(message, (name, why))
    return found


@dataclass(frozen=True)
class _Site:
    """A call that makes an error of a constant message, and why it may not use a sentinel ("" if it may)."""

    src: SourceFile
    fn: Node
    call: Node
    message: str
    facts: tuple[EscapeFact, ...]
    why: str = ""

    @property
    def function(self) -> tuple[Path, int]:
        return self.src.path, self.fn.start_byte

    @property
    def qualifier(self) -> str:
        return self.src.text(self.call).split(".", 1)[0]


def _sites(pass_: Pass) -> list[_Site]:
    """Every call of the package that makes an escaping error of a constant message, each checked alone."""
    sentinels, sites = pass_.once(_reusable), list[_Site]()
    for src in pass_.files(tests=False):
        for fn in (d for d in src.root.named_children if d.type in FUNCTION_TYPES[:2]):
            problem = pass_.import_problem(src, fn, "errors")
            for call in (n for n in walk(fn) if n.type == "call_expression"):
                if not (facts := _errors(pass_, src, call)) or (message := _message(pass_, src, call)) is None:
                    continue
                why = "generated file (Code generated ... DO NOT EDIT)" if src.generated else problem
                if not why and src.text(call).startswith("fmt.") and _PERCENT.search(message):
                    why = "the message holds a %, which Errorf would format"
                why = why or sentinels.get(message, ("", ""))[1]
                if not why and (compared := pass_.identity_uses_of_value(src, call)):
                    places = "; ".join(u.describe() for u in compared[:2])
                    why = f"results may be told apart by identity at {places}; one shared error would make them equal"
                sites.append(_Site(src, fn, call, message, tuple(facts), why))
    return sites


def _plan(pass_: Pass) -> tuple[list[_Site], dict[str, tuple[str, _Site]]]:
    """The sites, and message → (its sentinel, its first site that passed the checks): the sites of one
    message share one sentinel, declared above the first one's function, in one proposal."""
    sites, sentinels, plan = _sites(pass_), pass_.once(_reusable), dict[str, tuple[str, _Site]]()
    by_message: dict[str, list[_Site]] = {}
    for s in sites:
        if not s.why:
            by_message.setdefault(s.message, []).append(s)
    for message, users in by_message.items():
        fns = {u.function: u for u in users}.values()
        spelled = frozenset[str]().union(*(u.src.names_in(u.fn) for u in fns))
        name = sentinels[message][0] if message in sentinels else None
        if name := name or pass_.new_name(_names(message, pass_.package.name), spelled):
            plan[message] = (name, users[0])
    for i, s in enumerate(sites):
        if not s.why and s.message not in plan:
            why = f"every name made of the words of {s.message} is taken in this package already"
            sites[i] = replace(s, why=why)
    return sites, plan


def _by_function(pass_: Pass) -> dict[tuple[Path, int], tuple[list[_Site], list[str], list[_Site]]]:
    """For each function: its sites that may not use a sentinel, the messages whose proposal it
    holds, and those messages' sites in the package's order; found once, not once per function."""
    sites, plan = pass_.once(_plan)
    out: dict[tuple[Path, int], tuple[list[_Site], list[str], list[_Site]]] = {}
    for s in sites:
        if s.why:
            out.setdefault(s.function, ([], [], []))[0].append(s)
    home = {message: first.function for message, (_, first) in plan.items()}
    for message, function in home.items():
        out.setdefault(function, ([], [], []))[1].append(message)
    for s in sites:
        if not s.why and s.message in home:
            out[home[s.message]][2].append(s)
    return out


def propose(match: Match, pass_: Pass) -> None:
    src, fn = match.src, match.one("func")
    if fn is None:
        return
    plan = pass_.once(_plan)[1]
    skipped, mine, group = pass_.once(_by_function).get((src.path, fn.start_byte), ([], [], []))
    for site in skipped:
        pass_.skip(site.src, site.call, site.why, site.facts)
    if not group:
        return
    start = fn
    while (prev := start.prev_named_sibling) is not None and prev.type == "comment" and _own_lines(src, prev, start):
        start = prev
    new = [f"{plan[m][0]} = errors.New({m})" for m in mine if m not in pass_.once(_reusable)]
    text = f"var {new[0]}\n\n" if len(new) == 1 else "var (\n" + "".join(f"\t{s}\n" for s in new) + ")\n\n"
    edits = [Edit.insert(src, start.start_byte, text)] if new else []
    edits += [Edit.replace(s.src, s.call, plan[s.message][0]) for s in group]
    rationale = "a package-level sentinel allocates its error once at init instead of on every call"
    if others := [s for s in group if s.function != group[0].function]:
        places = (
            f"{pass_.function_name(s.src, s.call)} at {s.src.path.name}:{s.src.line_of(s.call.start_byte)}"
            for s in others
        )
        rationale += f"; shared with {', '.join(places)}"
    seen = "no package of the module tells its results apart by identity (go/types followed every use)"
    if not (pass_.package.is_main or pass_.package.is_internal):
        seen += "; code outside the module that imports this package is not seen"
    pass_.report(
        src,
        group[0].call,
        edits,
        targets=[f for s in group for f in s.facts],
        rationale=rationale,
        pattern="sentinel",
        proven=seen,
        add_imports=["errors"] if new else [],
        drop_imports=["errors", "fmt"],
    )


def _errors(pass_: Pass, src: SourceFile, call: Node) -> list[EscapeFact]:
    return [f for f in pass_.facts_within(src, call) if f.expr == "&errors.errorString{...}"]


def _own_lines(src: SourceFile, comment: Node, below: Node) -> bool:
    """Whether a comment is a doc line of `below`: alone on its line, right above it."""
    line_start = src.data.rfind(b"\n", 0, comment.start_byte) + 1
    alone = not src.data[line_start : comment.start_byte].strip()
    return alone and src.line_of(comment.end_byte) >= src.line_of(below.start_byte) - 1


def _uses(src: SourceFile, package: str) -> int:
    """How many times a file names a package as a qualifier: `errors` in `errors.New`, `fmt` in `fmt.Stringer`."""
    parts = (n.child_by_field_name(_QUALIFIED[n.type]) for n in walk(src.root) if n.type in _QUALIFIED)
    return sum(1 for part in parts if part is not None and src.text(part) == package)
