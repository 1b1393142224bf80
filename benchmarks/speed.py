"""Print issue 13's speed targets: goescape's own time beside the go commands it waits on.

Run: python benchmarks/speed.py [--repeat N] [--goescape PATH] [--std]

goescape runs go through a shim (`--go SHIM`) that logs when each go command starts and ends; goescape's
own time is its wall time minus the union of those intervals (go commands that overlap count once).
Rows, each the median of N runs after one unmeasured warm-up:
- `scan` of an unchanged module, warm (target: own time <= 0.5 s), on examples/ and on the standard
  library slice strings strconv encoding/json net/url text/template;
- `scan` after one file changed (a new comment in examples/shop/shop.go each run) beside a bare
  `go build -gcflags=-m=2` after the same kind of change (target: <= 1.5x);
- `fix --verify vet --no-measure` on examples/ beside its limit: an overlay rebuild of the packages
  the verified rewrites touch plus `go vet` of them, with the rewrites in the overlay (target: <=
  1.5x); and, for information, the same with measurement (the code's own tests and benchmarks run
  with allocation profiles, which the limit does not include);
- with --std, `scan std` once beside `go build -gcflags=-m=2 std`, and goescape's peak RSS (psutil,
  goescape's own process, not the compiler's; target: <= 1 GiB).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from bench import ROOT, STD, command_line  # benchmarks/bench.py: this script's folder is first on sys.path

SHIM = """#!/bin/sh
start=$(date +%s.%N)
"{go}" "$@"
code=$?
echo "$start $(date +%s.%N)" >> "{log}"
exit $code
"""


def _union(log: Path) -> float:
    """Seconds covered by the logged go commands, overlaps counted once."""
    spans = sorted(tuple(map(float, line.split())) for line in log.read_text().splitlines() if line.strip())
    total, end = 0.0, float("-inf")
    for s, e in spans:
        if e <= end:
            continue
        total += e - max(s, end)
        end = e
    return total


def _peak_rss(proc: subprocess.Popen[bytes]) -> int:
    """Highest RSS in bytes of `proc` itself, sampled every 50 ms until it exits (0 without psutil)."""
    try:
        import psutil
    except ImportError:
        proc.wait()
        return 0
    peak, p = 0, psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            peak = max(peak, p.memory_info().rss)
        except psutil.Error:
            break
        time.sleep(0.05)
    proc.wait()
    return peak


class Runner:
    """Runs goescape with the logging go shim and splits its wall time into go's and its own."""

    def __init__(self, goescape: str, go: str, tmp: Path) -> None:
        self.goescape = goescape
        self.log = tmp / "go.log"
        self.shim = tmp / "go"
        self.shim.write_text(SHIM.format(go=go, log=self.log))
        self.shim.chmod(0o755)

    def run(self, args: Sequence[str], cwd: Path, rss: bool = False) -> tuple[float, float, int, int]:
        """(wall seconds, go seconds, exit status, goescape's peak RSS in bytes or 0)."""
        self.log.write_text("")
        start = time.perf_counter()
        proc = subprocess.Popen(
            [self.goescape, *args[:1], "--go", str(self.shim), *args[1:]],
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        peak = [0]
        watcher = threading.Thread(target=lambda: peak.__setitem__(0, _peak_rss(proc))) if rss else None
        if watcher:
            watcher.start()
            watcher.join()
        code = proc.wait()
        wall = time.perf_counter() - start
        return wall, _union(self.log), code, peak[0]


def _median(rows: list[tuple[float, float, int, int]]) -> tuple[float, float, int, int]:
    wall = statistics.median(r[0] for r in rows)
    go = statistics.median(r[1] for r in rows)
    return wall, go, rows[-1][2], max(r[3] for r in rows)


def _bare(command: Sequence[str], cwd: Path) -> float:
    start = time.perf_counter()
    out = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(command)}: {out.stderr.strip()}")
    return time.perf_counter() - start


def _row(target: str, what: str, wall: float, go: float | None, limit: float | None, goal: str) -> None:
    own = f"{wall - go:7.2f}" if go is not None else f"{'':>7}"
    ratio = f"{wall / limit:6.2f}x" if limit else f"{'':>7}"
    lim = f"{limit:7.2f}" if limit else f"{'':>7}"
    print(f"{target:<10} {what:<34} {wall:7.2f} {own} {lim} {ratio}  {goal}")


def _touch(path: Path, n: int) -> None:
    with path.open("a") as f:
        f.write(f"\n// speed benchmark change {n} {time.time_ns()}\n")


def _verified_overlay(doc: dict[str, object], cwd: Path, tmp: Path) -> tuple[Path, list[str]]:
    """An overlay with the report's diff applied (`git apply` in a copy), and the packages it touches."""
    fixed = tmp / "fixed"
    shutil.copytree(cwd, fixed)
    subprocess.run(["git", "apply", "-"], cwd=fixed, input=str(doc["diff"]), text=True, check=True)
    names = sorted(set(re.findall(r"^\+\+\+ b/(.+)$", str(doc["diff"]), re.MULTILINE)))
    replace = {str((cwd / n).resolve()): str(fixed / n) for n in names}
    overlay = tmp / "overlay.json"
    overlay.write_text(json.dumps({"Replace": replace}))
    return overlay, sorted({"./" + str(Path(n).parent) for n in names})


def main() -> int:
    std = "--std" in sys.argv
    if std:
        sys.argv.remove("--std")
    repeat, go, goescape = command_line(__doc__)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        runner = Runner(goescape, go, tmp)
        examples = tmp / "examples"
        shutil.copytree(ROOT / "examples", examples)
        print(f"{'target':<10} {'command':<34} {'wall s':>7} {'own s':>7} {'limit':>7} {'ratio':>7}  target")
        for name, cwd, patterns in (("examples", examples, ["./..."]), ("std slice", tmp, STD)):
            runner.run(["scan", "--json", *patterns], cwd)
            wall, g, _, _ = _median([runner.run(["scan", "--json", *patterns], cwd) for _ in range(repeat)])
            _row(
                name, "scan, unchanged, warm", wall, g, None, f"own <= 0.5 s: {'met' if wall - g <= 0.5 else 'MISSED'}"
            )
        cart = examples / "shop" / "shop.go"
        pristine = cart.read_bytes()
        bare_runs, scan_runs = [], []
        for i in range(repeat):
            _touch(cart, 2 * i)
            bare_runs.append(_bare([go, "build", "-gcflags=-m=2", "-o", os.devnull, "./..."], examples))
            _touch(cart, 2 * i + 1)
            scan_runs.append(runner.run(["scan", "--json", "./..."], examples))
        cart.write_bytes(pristine)
        bare = statistics.median(bare_runs)
        wall, g, _, _ = _median(scan_runs)
        met = "met" if wall <= 1.5 * bare else "MISSED"
        _row("examples", "scan, one file changed", wall, g, bare, f"<= 1.5x bare compile: {met}")
        fix = [goescape, "fix", "--json", "--verify", "vet", "--no-measure", "./..."]
        doc = json.loads(subprocess.run(fix, cwd=examples, capture_output=True, text=True, check=False).stdout)
        overlay, dirs = _verified_overlay(doc, examples, tmp)
        if dirs:
            limit_runs = []
            for _ in range(repeat + 1):
                start = time.perf_counter()
                _bare([go, "build", f"-overlay={overlay}", "-gcflags=-m=2", "-o", os.devnull, *dirs], examples)
                _bare([go, "vet", f"-overlay={overlay}", *dirs], examples)
                limit_runs.append(time.perf_counter() - start)
            limit = statistics.median(limit_runs[1:])
            wall, g, _, _ = _median([runner.run(fix[1:], examples) for _ in range(repeat)])
            met = "met" if wall <= 1.5 * limit else "MISSED"
            _row("examples", f"fix --verify vet --no-measure ({len(dirs)} pkgs)", wall, g, limit, f"<= 1.5x: {met}")
            measured = [runner.run([*fix[1:-2], "./..."], examples) for _ in range(repeat)]
            wall, g, _, _ = _median(measured)
            _row("examples", "fix --verify vet (measured)", wall, g, limit, "information: tests and benchmarks run")
        if std:
            bare = _bare([go, "build", "-gcflags=-m=2", "-o", os.devnull, "std"], tmp)
            wall, g, _, peak = runner.run(["scan", "--json", "std"], tmp, rss=True)
            _row("std", "scan std (once, after a warm go build)", wall, g, bare, f"peak RSS {peak / 2**20:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
