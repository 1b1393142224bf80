"""A campaign over eight copies of examples/ with 1 and 2 local workers: throughput, speed-up and
peak memory per worker, printed as a table.

Run: python benchmarks/campaign.py [--copies N] [--workers 1,2] [--own-gocache]

Each copy is a git repository of its own, listed in one SPEC. A warm-up campaign of one copy runs
first (not timed) so that calibration and the measuring runtime are built; the timed campaigns then
share the Go build cache of `go env GOCACHE` (`--gocache`), so that the comparison is of the work,
not of cache warming. `--own-gocache` times the default instead: each worker its own, empty, GOCACHE.
Peak memory is the largest resident set of a worker process or of any process it waited for (the
goescape child, go, compile, link), from getrusage, as the ledger records it per stage.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import ROOT, git, go_env  # benchmarks/bench.py: this script's folder is first on sys.path


def _copies(top: Path, n: int) -> Path:
    spec = top / "repos.txt"
    lines = []
    for i in range(n):
        repo = top / f"shop{i}"
        shutil.copytree(ROOT / "examples", repo)
        git("init", "-q", "-b", "main", cwd=repo)
        git("add", "-A", cwd=repo)
        git("commit", "-qm", "examples", cwd=repo)
        lines.append(str(repo))
    spec.write_text("\n".join(lines) + "\n")
    return spec


def _campaign(spec: Path, folder: Path, workers: int, gocache: str | None) -> float:
    argv = [sys.executable, "-m", "goescape.engine", "campaign", "run", str(spec), "--dir", str(folder)]
    argv += ["--workers", str(workers)] + (["--gocache", gocache] if gocache else [])
    start = time.perf_counter()
    out = subprocess.run(argv, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"campaign failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return seconds


def _ledger(folder: Path) -> tuple[int, int, int, dict[str, int]]:
    with sqlite3.connect(folder / "campaign.db") as db:
        done, verified, failed = db.execute(
            "SELECT SUM(status = 'done'), SUM(verified), SUM(status = 'failed') FROM repositories"
        ).fetchone()
        peaks = dict(db.execute("SELECT worker, MAX(peak_rss_kib) FROM tasks GROUP BY worker").fetchall())
    return done, verified, failed, peaks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--own-gocache", action="store_true", help="each worker its own, empty, GOCACHE")
    args = parser.parse_args()
    go_version = subprocess.run(["go", "version"], capture_output=True, text=True, check=True).stdout.strip()
    shared = go_env("GOCACHE")
    gocache = None if args.own_gocache else shared
    print(
        f"{go_version}; {os.cpu_count()} cores; {args.copies} copies of examples/; GOCACHE "
        f"{'one per worker, empty' if args.own_gocache else 'shared, warm'}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        top = Path(tmp)
        spec = _copies(top, args.copies)
        warm = top / "warm.txt"
        warm.write_text(spec.read_text().splitlines()[0] + "\n")
        _campaign(warm, top / "c-warm", 1, shared)  # calibration and the measuring runtime, not timed
        print(
            f"{'workers':>7} {'seconds':>8} {'repos/min':>9} {'speed-up':>8} {'done':>4} {'verified':>8} "
            f"{'failed':>6}  peak RSS per worker (MiB)"
        )
        first = None
        for workers in [int(w) for w in args.workers.split(",")]:
            folder = top / f"c{workers}"
            seconds = _campaign(spec, folder, workers, gocache)
            done, verified, failed, peaks = _ledger(folder)
            first = first or seconds
            mib = ", ".join(f"{w} {kib / 1024:.0f}" for w, kib in sorted(peaks.items()))
            print(
                f"{workers:>7} {seconds:8.1f} {60 * args.copies / seconds:9.2f} {first / seconds:8.2f} "
                f"{done:>4} {verified:>8} {failed:>6}  {mib}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
