"""What the go tools print for a measurement, parsed: heap-profile traces, coverage profiles, benchmarks."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_FRAME = re.compile(r"^\s+(?:\d+\s+)?(?P<func>\S+) (?P<file>\S+):(?P<line>\d+)(?: \(inline\))?$")
_COUNT = re.compile(r"^\s+(?P<count>\d+)\s+\S+")
_BENCH = re.compile(r"^(?P<name>Benchmark[^\s/]+?)(?P<sub>/\S*?)?(?:-\d+)?\s+\d+\s+(?P<metrics>.*)$")
_COVER = re.compile(r"^(?P<file>.+):(?P<l1>\d+)\.\d+,(?P<l2>\d+)\.\d+ \d+ (?P<count>\d+)$")


@dataclass(frozen=True)
class Sample:
    count: int
    frames: tuple[tuple[str, str, int], ...]  # (function, file, line), innermost first


def parse_traces(text: str) -> list[Sample]:
    """`go tool pprof -traces -lines -sample_index=alloc_objects` text → samples with their stacks."""
    samples: list[Sample] = []
    count, frames = 0, list[tuple[str, str, int]]()
    for line in [*text.splitlines(), "-----------+"]:
        if line.startswith("-----------+"):
            if frames and count:
                samples.append(Sample(count, tuple(frames)))
            count, frames = 0, []
            continue
        frame = _FRAME.match(line)
        if frame is None:
            continue
        if not frames and (head := _COUNT.match(line)):
            count = int(head.group("count"))
        frames.append((frame.group("func"), frame.group("file"), int(frame.group("line"))))
    return samples


def parse_coverage(text: str) -> dict[str, list[tuple[int, int, int]]]:
    """A `-coverprofile` (mode count) → `importpath/file.go` → [(first line, last line, count)]."""
    blocks: dict[str, list[tuple[int, int, int]]] = {}
    for line in text.splitlines():
        if m := _COVER.match(line):
            blocks.setdefault(m.group("file"), []).append(
                (int(m.group("l1")), int(m.group("l2")), int(m.group("count")))
            )
    return blocks


def executions(blocks: Sequence[tuple[int, int, int]], lines: set[int]) -> int:
    return max((n for a, b, n in blocks for line in lines if a <= line <= b), default=0)


def parse_bench(output: str) -> dict[str, dict[str, float]]:
    """`go test -bench -benchmem -count=N` output → top-level benchmark → allocs/op and B/op.

    Each sub-benchmark's figure is its least over the N runs (the allocator counts the whole
    process, so a background allocation can only add), and a benchmark's is the sum over its
    sub-benchmarks.
    """
    runs: dict[tuple[str, str], list[dict[str, float]]] = {}
    for line in output.splitlines():
        if m := _BENCH.match(line.strip()):
            fields = m.group("metrics").split()
            metrics = {unit: float(value) for value, unit in zip(fields[::2], fields[1::2], strict=False)}
            runs.setdefault((m.group("name"), m.group("sub") or ""), []).append(metrics)
    out: dict[str, dict[str, float]] = {}
    for (name, _), rows in runs.items():
        total = out.setdefault(name, {"allocs/op": 0.0, "B/op": 0.0})
        for unit in total:
            total[unit] += min(r.get(unit, 0.0) for r in rows)
    return out


def first_line(text: str) -> str:
    return next((ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")), "no output")
