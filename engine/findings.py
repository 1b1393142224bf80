"""Findings of scan and fix: each escape the compiler reported, and each verified rewrite with its fix."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from goescape.engine.diffs import LineMatcher
from goescape.engine.facts import Class, Classified, EscapeFact, Kind
from goescape.engine.formats import KIND_TEXT, Finding, Fix, Level, Replacement, fingerprint, kind_rule
from goescape.engine.proposals import Proposal
from goescape.engine.results import Result, Verified


def _is_continuation(data: bytes, i: int) -> bool:
    return i < len(data) and data[i] & 0xC0 == 0x80


def fix_of(changes: Mapping[Path, tuple[bytes, bytes]], description: str) -> Fix:
    """A Fix with one replacement per changed stretch of lines in each file (diffs.LineMatcher's opcodes),
    each cut down to the bytes between its common prefix and suffix.

    An import added at the top and a call changed below are two small replacements, not one that
    spans the file between them. Both ends are moved back to whole UTF-8 characters, so each
    replacement's text decodes.
    """
    replacements = []
    for path in sorted(changes):
        old, new = changes[path]
        if old == new:
            continue
        a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
        at_a, at_b = _line_offsets(a), _line_offsets(b)
        for tag, i1, i2, j1, j2 in LineMatcher(a, b).get_opcodes():
            if tag == "equal":
                continue
            base = at_a[i1]
            start, end, text = _smallest(old[base : at_a[i2]], new[at_b[j1] : at_b[j2]])
            replacements.append(Replacement(path, base + start, base + end, text))
    return Fix(description, tuple(replacements))


def _line_offsets(lines: Sequence[bytes]) -> list[int]:
    """The byte offset where each line starts, and the length of the whole after the last."""
    return list(itertools.accumulate((len(line) for line in lines), initial=0))


def _smallest(old: bytes, new: bytes) -> tuple[int, int, bytes]:
    """(start, end, text): the bytes of `old` between the common prefix and suffix, and `new`'s there."""
    limit = min(len(old), len(new))
    start = 0
    while start < limit and old[start] == new[start]:
        start += 1
    while start > 0 and (_is_continuation(old, start) or _is_continuation(new, start)):
        start -= 1
    tail = 0
    while tail < limit - start and old[-1 - tail] == new[-1 - tail]:
        tail += 1
    while tail > 0 and _is_continuation(old, len(old) - tail):
        tail -= 1
    return start, len(old) - tail, new[start : len(new) - tail]


def _what(fact: EscapeFact) -> str:
    if fact.kind is Kind.MOVED:
        return f"{fact.expr} moved to heap"
    if fact.kind is Kind.ESCAPES:
        return f"{fact.expr} escapes to heap"
    if fact.kind is Kind.FUNC_LITERAL:
        return "func literal escapes to heap"
    return f"{fact.kind.value} {fact.expr}"


def _occurrences(keys: Sequence[tuple[str, ...]], order: Sequence[int]) -> list[str]:
    """Each key's fingerprint with its rank among equal keys, counted in `order` (indices into `keys`)."""
    seen: Counter[tuple[str, ...]] = Counter()
    prints = [""] * len(keys)
    for i in order:
        prints[i] = fingerprint(*keys[i], str(seen[keys[i]]))
        seen[keys[i]] += 1
    return prints


def scan_findings(items: Sequence[Classified]) -> list[Finding]:
    """One note per escape the compiler reported, in the order given; the compiler's repeats are left out.

    The fingerprint is the gate's: (package, function, kind, expression) and the rank among equal
    keys in file order, so the same escape keeps one identity in `scan` and `gate` output.
    """
    kept = [i for i in items if i.cls is not Class.DUPLICATE and not str(i.fact.path).startswith("<")]
    keys = [(i.fact.package, i.fact.function, i.fact.kind.value, i.fact.expr) for i in kept]

    def place(n: int) -> tuple[str, str, int, int, str, str]:
        f = kept[n].fact
        return (f.package, str(f.path), f.line, f.column, f.kind.value, f.expr)

    prints = _occurrences(keys, sorted(range(len(kept)), key=place))
    out = []
    for item, print_ in zip(kept, prints, strict=True):
        f = item.fact
        why = f.why()
        because = f": {why}" if why and why != f.message else ""
        where = f" in {f.function}" if f.function else ""
        out.append(
            Finding(
                rule=kind_rule(f.kind),
                level=Level.NOTE,
                message=f"{_what(f)}{where}{because}; {item.advice()}",
                path=f.path,
                line=f.line,
                column=f.column,
                fingerprint=print_,
                rule_text=KIND_TEXT[f.kind],
            )
        )
    return out


def fix_findings(
    results: Sequence[Result], final: Callable[[Proposal], Mapping[Path, tuple[bytes, bytes]]]
) -> list[Finding]:
    """One note per verified rewrite, with the rewrite attached as its fix; `final(proposal)` gives
    each changed file's bytes before and after. Rejected and skipped proposals are not findings."""
    verified = [r for r in results if isinstance(r, Verified)]
    keys = [
        (
            f"codemod/{r.proposal.codemod}",
            r.proposal.package,
            r.proposal.function,
            *sorted(f"{t.kind.value} {t.expr}" for t in r.proposal.targets),
        )
        for r in verified
    ]
    order = sorted(range(len(verified)), key=lambda n: (str(verified[n].proposal.path), verified[n].proposal.line))
    prints = _occurrences(keys, order)
    out = []
    for r, print_ in zip(verified, prints, strict=True):
        p = r.proposal
        out.append(
            Finding(
                rule=f"codemod/{p.codemod}",
                level=Level.NOTE,
                message=f"{p.rationale}; {r.allocs_text()}",
                path=p.path,
                line=p.line,
                column=0,
                fingerprint=print_,
                rule_text=f"A rewrite by the {p.codemod} codemod that removes a heap allocation, verified by the compiler.",
                fix=fix_of(final(p), p.rationale),
            )
        )
    return out
