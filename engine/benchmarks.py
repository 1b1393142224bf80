"""`fix --bench`: the package's own benchmarks before and after, compared as benchstat does.

Each metric's samples are compared with the Mann-Whitney U test (exact for small samples, the
normal approximation with a tie correction for larger ones); a change whose p-value is not
below 0.05 is reported as not significant, never as a win.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from goescape.engine.calibration import parse_benchmarks

ALPHA = 0.05
METRICS = ("ns/op", "B/op", "allocs/op")


def _ranks(values: Sequence[float]) -> list[float]:
    """Mid-ranks, 1-based, ties sharing the mean of their positions."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def mann_whitney_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test that `a` and `b` come from one distribution."""
    n, m = len(a), len(b)
    if n == 0 or m == 0:
        return 1.0
    pooled = [*a, *b]
    ranks = _ranks(pooled)
    observed = sum(ranks[:n]) - n * (n + 1) / 2
    mean = n * m / 2
    if len(set(pooled)) == 1:
        return 1.0
    if n + m <= 20:
        # Exact: every way of choosing which pooled ranks belong to `a`, ties kept as mid-ranks.
        extreme = total = 0
        for chosen in itertools.combinations(ranks, n):
            u = sum(chosen) - n * (n + 1) / 2
            total += 1
            if abs(u - mean) >= abs(observed - mean) - 1e-9:
                extreme += 1
        return extreme / total
    ties = sum(c**3 - c for c in (pooled.count(v) for v in set(pooled)))
    variance = n * m / 12 * ((n + m + 1) - ties / ((n + m) * (n + m - 1)))
    if variance <= 0:
        return 1.0
    z = (abs(observed - mean) - 0.5) / math.sqrt(variance)
    return math.erfc(max(z, 0.0) / math.sqrt(2))


@dataclass(frozen=True)
class Change:
    benchmark: str
    metric: str
    before: float  # medians
    after: float
    p: float
    samples: int

    @property
    def significant(self) -> bool:
        return self.p < ALPHA and self.before != self.after

    def delta(self) -> str:
        if not self.significant:
            return "~ (not significant)"
        if self.before == 0:
            return f"+{self.after:g} from 0"
        return f"{(self.after - self.before) / self.before * 100:+.1f}%"


def _by_package(output: str) -> dict[str, list[dict[str, float]]]:
    """Benchmark runs keyed `package.BenchmarkName`, from `go test -bench` over several packages."""
    runs: dict[str, list[dict[str, float]]] = {}
    package = ""
    chunk: list[str] = []
    for line in [*output.splitlines(), "pkg: "]:
        if line.startswith("pkg: "):
            for name, samples in parse_benchmarks("\n".join(chunk)).items():
                runs.setdefault(f"{package}.Benchmark{name}", []).extend(samples)
            package, chunk = line.removeprefix("pkg: ").strip(), []
        else:
            chunk.append(line)
    return runs


def compare(before_output: str, after_output: str) -> list[Change]:
    before, after = _by_package(before_output), _by_package(after_output)
    changes = []
    for name in sorted(set(before) & set(after)):
        for metric in METRICS:
            a = [r[metric] for r in before[name] if metric in r]
            b = [r[metric] for r in after[name] if metric in r]
            if a and b:
                changes.append(
                    Change(
                        name,
                        metric,
                        statistics.median(a),
                        statistics.median(b),
                        mann_whitney_p(a, b),
                        min(len(a), len(b)),
                    )
                )
    return changes
