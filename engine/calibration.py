"""Calibration: each codemod's before/after micro-benchmarks, run on this toolchain and cached.

A pair is `<pattern>.txtar` with `go.mod`, `before.go`, `after.go` and `bench_test.go`. Its
`BenchmarkPattern` decides whether the pattern saves allocations on this toolchain; any other
benchmark in it is shown beside it, for inputs where the answer differs. A pair whose rewrite keeps
its allocations and makes them smaller (a struct moved to a smaller size class) says so in a
`figure` section holding `B/op`: it then saves when it allocates no more often and fewer bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import statistics
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from goescape.engine import txtar
from goescape.engine.cachedir import cache_dir
from goescape.engine.codemod import Codemod
from goescape.engine.console import Steps, no_steps
from goescape.engine.errors import CalibrationFailed
from goescape.engine.results import fewer_bytes
from goescape.engine.toolchain import Toolchain

GATE = "Pattern"
ALLOCS, BYTES = "allocs/op", "B/op"  # what decides whether a pattern saves
_BENCH_LINE = re.compile(r"^Benchmark(?P<name>\w+?)(?:-\d+)?\s+\d+\s+(?P<metrics>.*)$")


@dataclass(frozen=True)
class Sample:
    """Medians of one benchmark's runs."""

    ns: float
    bytes: float
    allocs: float


@dataclass(frozen=True)
class Calibration:
    codemod: str
    pattern: str
    benchmark: str
    before: Sample
    after: Sample
    go_version: str
    figure: str = ALLOCS

    @property
    def gates(self) -> bool:
        return self.benchmark == GATE

    @property
    def saves(self) -> bool:
        """Fewer allocs/op; for a B/op pair, no more allocs/op and fewer B/op by at least 1% and 8
        bytes (the smallest size class), as a rewrite's own measurement is judged."""
        if self.figure != BYTES:
            return self.after.allocs < self.before.allocs
        return self.after.allocs <= self.before.allocs and fewer_bytes(self.before.bytes, self.after.bytes)

    def allocs_text(self) -> str:
        """`2 → 1`; a B/op pair adds its bytes: `1 → 1, B/op 48 → 32`."""
        bytes_ = f", B/op {self.before.bytes:g} → {self.after.bytes:g}" if self.figure == BYTES else ""
        return f"{self.before.allocs:g} → {self.after.allocs:g}{bytes_}"

    def figures(self) -> str:
        """`2 → 1 allocs/op`, or for a B/op pair `1 → 1 allocs/op and 48 → 32 B/op`."""
        allocs = f"{self.before.allocs:g} → {self.after.allocs:g} allocs/op"
        return allocs + (f" and {self.before.bytes:g} → {self.after.bytes:g} B/op" if self.figure == BYTES else "")


def parse_benchmarks(text: str) -> dict[str, list[dict[str, float]]]:
    """`go test -bench` output → benchmark name (without Benchmark and -CPU) → each run's metrics."""
    runs: dict[str, list[dict[str, float]]] = {}
    for line in text.splitlines():
        m = _BENCH_LINE.match(line.strip())
        if not m:
            continue
        fields = m.group("metrics").split()
        metrics = {unit: float(value) for value, unit in zip(fields[::2], fields[1::2], strict=False)}
        runs.setdefault(m.group("name"), []).append(metrics)
    return runs


def _median(runs: Sequence[dict[str, float]], unit: str) -> float:
    return statistics.median(r.get(unit, 0.0) for r in runs)


def _run_variant(tc: Toolchain, archive: txtar.Archive, variant: str, count: int, pair: Path) -> dict[str, Sample]:
    with tempfile.TemporaryDirectory(prefix="goescape-calibrate-") as tmp:
        root = Path(tmp)
        for name, data in archive.files:
            if name in ("go.mod", "bench_test.go"):
                (root / name).write_text(data)
        (root / "pattern.go").write_text(archive.get(f"{variant}.go") or "")
        out = tc.run(["test", "-run", "^$", "-bench", ".", "-benchmem", f"-count={count}", "-benchtime=0.1s"], root)
        if out.returncode != 0:
            raise CalibrationFailed(
                f"the calibration pair's {variant}.go does not build or run on {tc.version}",
                path=pair,
                stderr=(out.stderr + out.stdout).replace(str(root) + "/", ""),
            )
        runs = parse_benchmarks(out.stdout)
    return {name: Sample(_median(r, "ns/op"), _median(r, "B/op"), _median(r, "allocs/op")) for name, r in runs.items()}


def measure_pair(tc: Toolchain, codemod: str, path: Path, count: int = 3) -> list[Calibration]:
    archive = txtar.parse(path.read_text())
    figure = BYTES if (archive.get("figure") or "").strip() == BYTES else ALLOCS
    before = _run_variant(tc, archive, "before", count, path)
    after = _run_variant(tc, archive, "after", count, path)
    return [
        Calibration(codemod, path.stem, name, before[name], after[name], tc.version, figure)
        for name in before
        if name in after
    ]


def cache_file() -> Path:
    return cache_dir() / "calibration.json"


def _load_cache() -> dict[str, dict[str, object]]:
    try:
        data = json.loads(cache_file().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _pairs(codemod: Codemod) -> list[Path]:
    folder = codemod.calibration
    return sorted(folder.glob("*.txtar")) if folder is not None and folder.is_dir() else []


def _from_json(rows: object) -> list[Calibration]:
    out = []
    for row in rows if isinstance(rows, list) else []:
        out.append(
            Calibration(
                row["codemod"],
                row["pattern"],
                row["benchmark"],
                Sample(**row["before"]),
                Sample(**row["after"]),
                row["go_version"],
                row.get("figure", ALLOCS),
            )
        )
    return out


def calibrate(
    tc: Toolchain,
    codemods: Iterable[Codemod],
    *,
    force: bool = False,
    cached_only: bool = False,
    progress: Steps = no_steps,
) -> list[Calibration]:
    """Every pair's figures on this toolchain: from the cache when the pair has not changed.
    `progress` hears how many of the pairs to measure are measured."""
    cache = _load_cache()
    mine = cache.get(tc.version)
    if not isinstance(mine, dict):
        mine = cache[tc.version] = {}
    found: dict[str, list[Calibration]] = {}  # pair → its rows, in the order of the pairs
    stale: list[tuple[str, Path, str, str]] = []  # (codemod, pair, key, digest) to measure
    for codemod in codemods:
        for path in _pairs(codemod):
            key = f"{codemod.name}/{path.stem}"
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            entry = mine.get(key)
            if not force and isinstance(entry, dict) and entry.get("sha") == digest:
                found[key] = _from_json(entry.get("rows"))
            elif not cached_only:
                found[key] = []
                stale.append((codemod.name, path, key, digest))
    for done, (name, path, key, digest) in enumerate(stale):
        progress(f"calibrating the codemods' benchmark pairs on {tc.version}", done, len(stale))
        found[key] = measure_pair(tc, name, path)
        mine[key] = {"sha": digest, "rows": [asdict(r) for r in found[key]]}
    results = [row for rows in found.values() for row in rows]
    changed = bool(stale)
    if changed:
        target = cache_file()
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(cache, fh, indent=1)
        os.replace(tmp, target)
    return results


def unprofitable(calibrations: Iterable[Calibration]) -> dict[tuple[str, str], str]:
    """(codemod, pattern) → why it is off by default, for patterns that save nothing here."""
    rows = list(calibrations)
    off: dict[tuple[str, str], str] = {}
    for row in rows:
        if not row.gates or row.saves:
            continue
        why = f"calibrated on {row.go_version}: {row.pattern} allocates {row.figures()}, no saving"
        others = [r for r in rows if (r.codemod, r.pattern) == (row.codemod, row.pattern) and not r.gates and r.saves]
        if others:
            why += "; " + ", ".join(f"{r.benchmark} saves ({r.allocs_text()})" for r in others)
        off[(row.codemod, row.pattern)] = why + "; --all-patterns tries it"
    return off
