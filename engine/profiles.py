"""Profiles: which proposals touch the code a heap or CPU profile says is hot.

`go tool pprof` reads the profile (no parser of our own): a heap profile by `alloc_space` per
source line, the allocation sites a rewrite can remove; a CPU profile by cumulative time per
function. Each proposal's share is what its function accounts for, as a part of the total.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from goescape.engine.errors import GoescapeError
from goescape.engine.parsing import FUNCTION_TYPES, SourceFile, enclosing, node_at, parse_file
from goescape.engine.proposals import Proposal, Skip
from goescape.engine.toolchain import Toolchain

_ROW = re.compile(
    r"^\s*(?P<flat>[\d.]+)\S*\s+\S+\s+\S+\s+(?P<cum>[\d.]+)\S*\s+\S+\s+(?P<name>\S+)(?:\s+(?P<where>\S+):(?P<line>\d+))?"
)
_TOTAL = re.compile(r"of (?P<total>[\d.]+)\S* total")


@dataclass(frozen=True)
class Profile:
    kind: str  # "alloc_space" or "cpu"
    total: float
    by_line: dict[tuple[str, int], float]  # (file, line) → flat, for heap profiles
    by_function: dict[str, float]  # qualified function → cum, for CPU profiles

    def share(self, proposal: Proposal | Skip, src: SourceFile, package: str) -> float:
        """The fraction of the profile the proposal's function accounts for."""
        if self.kind == "cpu":
            return self.function_share(proposal.path, None, f"{package}.{proposal.function}")
        fn = enclosing(node_at(src, src.offset(proposal.line, 1)), *FUNCTION_TYPES[:2])
        span = (fn.start_point.row + 1, fn.end_point.row + 1) if fn is not None else None
        return self.function_share(proposal.path, span, f"{package}.{proposal.function}")

    def function_share(self, path: Path, span: tuple[int, int] | None, qualified: str) -> float:
        """The fraction of the profile one function accounts for: its lines' allocations in a heap
        profile (`span`, first and last line), its cumulative time by `qualified` name
        (`example.com/m.(*T).Method`, as pprof prints it) in a CPU profile."""
        if self.total <= 0:
            return 0.0
        if self.kind == "cpu":
            return self.by_function.get(qualified, 0.0) / self.total
        if span is None:
            return 0.0
        first, last = span
        return sum(v for (f, ln), v in self.by_line.items() if _same_file(f, path) and first <= ln <= last) / self.total

    def line_share(self, path: Path, line: int) -> float:
        """The fraction of a heap profile allocated at one source line (0 for a CPU profile)."""
        if self.total <= 0:
            return 0.0
        return sum(v for (f, ln), v in self.by_line.items() if ln == line and _same_file(f, path)) / self.total


def _same_file(recorded: str, path: Path) -> bool:
    """A profile names files as they were built: absolute, or module-relative under -trimpath."""
    return recorded == str(path) or recorded.endswith(f"/{path.parent.name}/{path.name}")


def load_profile(tc: Toolchain, path: Path) -> Profile:
    if not path.is_file():
        raise GoescapeError("no such profile", path=path, hint="write one with go test -memprofile or -cpuprofile")
    common = ["tool", "pprof", "-text", "-nodecount=1000000", "-nodefraction=0", "-edgefraction=0"]
    heap = tc.run([*common, "-lines", "-sample_index=alloc_space", "-unit=B", str(path)], path.parent)
    if heap.returncode == 0:
        return _parse("alloc_space", heap.stdout)
    cpu = tc.run([*common, "-unit=ms", str(path)], path.parent)
    if cpu.returncode == 0:
        return _parse("cpu", cpu.stdout)
    first = (heap.stderr.strip().splitlines() or ["go tool pprof could not read it"])[0]
    raise GoescapeError(
        f"not a heap or CPU profile: {first}", path=path, hint="pass a go test -memprofile or -cpuprofile file"
    )


def _parse(kind: str, text: str) -> Profile:
    total_match = _TOTAL.search(text)
    total = float(total_match.group("total")) if total_match else 0.0
    by_line: dict[tuple[str, int], float] = {}
    by_function: dict[str, float] = {}
    for line in text.splitlines():
        m = _ROW.match(line)
        if not m:
            continue
        if m.group("where"):
            key = (m.group("where"), int(m.group("line")))
            by_line[key] = by_line.get(key, 0.0) + float(m.group("flat"))
        else:
            by_function[m.group("name")] = float(m.group("cum"))
    return Profile(kind, total, by_line, by_function)


def rank(
    proposals: Sequence[Proposal | Skip], profile: Profile, min_share: float
) -> tuple[list[Proposal | Skip], dict[int, float]]:
    """Proposals hottest first, those below `min_share` (a fraction) turned into skips; id → share."""
    shares: dict[int, float] = {}
    sources: dict[Path, SourceFile] = {}
    for p in proposals:
        src = sources.setdefault(p.path, parse_file(p.path))
        package = p.package if isinstance(p, Proposal) else ""
        shares[id(p)] = profile.share(p, src, package)
    ordered = sorted(proposals, key=lambda p: -shares[id(p)])
    out: list[Proposal | Skip] = []
    for p in ordered:
        share = shares[id(p)]
        if isinstance(p, Proposal) and share < min_share:
            why = f"cold: {share:.1%} of the profile's {profile.kind}, below --min-share {min_share:.1%}"
            skip = Skip(p.codemod, p.path, p.line, p.function, why, p.targets)
            shares[id(skip)] = share
            out.append(skip)
        else:
            out.append(p)
    return out, shares
