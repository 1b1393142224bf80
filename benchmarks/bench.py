"""Time goescape against a bare `go build -gcflags=-m` of the same packages and print the ratios.

Run: python benchmarks/bench.py [--repeat N]
Each command runs once to warm the build cache, then N times; the table shows median seconds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STD = ["strings", "strconv", "encoding/json", "net/url", "text/template"]


def git(*args: str, cwd: Path) -> None:
    """git as the benchmarks' committer (no global identity needed), quietly; raises on failure."""
    subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def go_env(name: str) -> str:
    return subprocess.run(["go", "env", name], capture_output=True, text=True, check=True).stdout.strip()


def timed(command: list[str], cwd: Path, repeat: int, env: dict[str, str] | None = None) -> tuple[float, int]:
    """Median seconds of `repeat` runs after an unmeasured warm-up run, and the last run's exit status."""
    subprocess.run(command, cwd=cwd, capture_output=True, check=False, env=env)
    runs, code = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        code = subprocess.run(command, cwd=cwd, capture_output=True, check=False, env=env).returncode
        runs.append(time.perf_counter() - start)
    return statistics.median(runs), code


def command_line(doc: str) -> tuple[int, str, str]:
    """The timing scripts' --repeat N and --goescape PATH: the repeat count, and the go and goescape to run.

    Exits 2 when there is no go on PATH.
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--goescape", help="the goescape to time (default: this environment's)")
    args = parser.parse_args()
    return (args.repeat, *tools(parser, args.goescape))


def tools(parser: argparse.ArgumentParser, goescape: str | None) -> tuple[str, str]:
    """The go on PATH and the goescape to time (`goescape`, else this environment's); exits 2 without go."""
    go = shutil.which("go")
    if go is None:
        parser.exit(2, f"{parser.prog}: no go on PATH\n")
    return go, goescape or shutil.which("goescape") or str(Path(sys.executable).parent / "goescape")


def main() -> int:
    repeat, go, goescape = command_line(__doc__)
    with tempfile.TemporaryDirectory() as tmp:
        examples = Path(tmp) / "examples"
        shutil.copytree(ROOT / "examples", examples)
        targets = [("examples", examples, ["./..."]), ("std slice", Path(tmp), STD)]
        print(f"{'target':<12} {'command':<28} {'seconds':>8} {'ratio to go':>14}")
        for name, cwd, patterns in targets:
            bare, _ = timed([go, "build", "-gcflags=-m", "-o", os.devnull, *patterns], cwd, repeat)
            print(f"{name:<12} {'go build -gcflags=-m':<28} {bare:8.2f} {1.0:14.1f}")
            for label, command in (
                ("goescape scan", [goescape, "scan", "--json", *patterns]),
                ("goescape fix --verify vet", [goescape, "fix", "--json", "--verify", "vet", *patterns]),
                ("goescape fix", [goescape, "fix", "--json", *patterns]),
            ):
                seconds, _ = timed(command, cwd, repeat)
                print(f"{name:<12} {label:<28} {seconds:8.2f} {seconds / bare:14.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
