"""Time the type oracle against a bare `go build -gcflags=-m=2` of the same standard-library packages.

Run: python benchmarks/oracle.py [--repeat N] [PKG ...]
For each package: the bare compile with escape diagnostics, the oracle's start-up (process start and
`go list -export -deps -test` of the package) and the first type question in one of its files (which
type-checks the package with its in-package tests). Each runs once to warm the build cache, then N
times; the table shows medians. A warm `go build` replays the compiler's cached diagnostics, so the
package's own compile is shown too: the same command with a compiler flag that changes nothing but
the cache key (`-D`, the prefix for relative imports, which std packages have none of). Last, the one-off build of the oracle binary into an empty user
cache directory, with Go's build cache empty too (GOCACHE follows XDG_CACHE_HOME) and kept warm.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from goescape.engine.oracle import Oracle, oracle_binary
from goescape.engine.toolchain import Toolchain, find_toolchain

STD = ["strings", "strconv", "encoding/json", "net/url", "text/template"]
_FUNC = re.compile(rb"^func (\w+)\(", re.MULTILINE)


def _median(run: Callable[[], float], repeat: int) -> float:
    run()  # warm the build cache (and the oracle's export data)
    return statistics.median(run() for _ in range(repeat))


def _bare(tc: Toolchain, pkg: str, cwd: Path, uncached: bool = False) -> float:
    flags = f"-m=2 -D=/goescape-bench-{time.perf_counter_ns()}" if uncached else "-m=2"
    start = time.perf_counter()
    out = tc.run(["build", f"-gcflags={flags}", "-o", os.devnull, pkg], cwd)
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"go build {pkg}: {out.stderr.strip()}")
    return elapsed


def _first_function(tc: Toolchain, pkg: str, cwd: Path) -> tuple[Path, int, int]:
    """A file of the package and the span of its first top-level function's name: the question asked."""
    listed = json.loads(tc.run(["list", "-json=Dir,GoFiles", pkg], cwd).stdout)
    for name in listed["GoFiles"]:
        path = Path(listed["Dir"]) / name
        match = _FUNC.search(path.read_bytes())
        if match:
            return path, match.start(1), match.end(1)
    raise SystemExit(f"{pkg}: no top-level function to ask about")


def _oracle(tc: Toolchain, pkg: str, cwd: Path, question: tuple[Path, int, int]) -> tuple[float, float]:
    """Seconds to start the oracle and load `pkg`, then seconds for the first type question."""
    with Oracle(tc, cwd, [pkg]) as oracle:
        start = time.perf_counter()
        oracle.names(cwd)  # the first question starts the process and loads the package
        loaded = time.perf_counter()
        answer = oracle.type_at(*question)
        asked = time.perf_counter()
    if answer is None:
        raise SystemExit(f"{pkg}: the oracle had no type for {question}")
    return loaded - start, asked - loaded


@contextmanager
def _environ(**changes: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _cold_build(tc: Toolchain, keep_gocache: bool) -> float:
    gocache = tc.run(["env", "GOCACHE"], Path.cwd()).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="goescape-xdg-") as xdg:
        changes = {"XDG_CACHE_HOME": xdg, "GOCACHE": gocache if keep_gocache else str(Path(xdg) / "go-build")}
        with _environ(**changes):
            start = time.perf_counter()
            oracle_binary(tc)
            return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("packages", nargs="*", default=STD)
    args = parser.parse_args()
    tc = find_toolchain()
    oracle_binary(tc)  # built once, outside every measurement
    print(f"{tc.version} {os.uname().machine}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print(f"median of {args.repeat} after one warm-up run; seconds")
    header = (
        f"{'package':<14} {'go build -m=2':>14} {'its compile':>12} "
        f"{'oracle start+load':>18} {'first type q.':>14} {'oracle total':>13}"
    )
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory(prefix="goescape-bench-") as tmp:
        cwd = Path(tmp)
        (cwd / "go.mod").write_text("module bench\n\ngo 1.22\n")
        for pkg in args.packages:
            bare = _median(lambda p=pkg: _bare(tc, p, cwd), args.repeat)
            compile_ = _median(lambda p=pkg: _bare(tc, p, cwd, uncached=True), args.repeat)
            question = _first_function(tc, pkg, cwd)
            runs = [_oracle(tc, pkg, cwd, question) for _ in range(args.repeat + 1)][1:]
            load = statistics.median(r[0] for r in runs)
            check = statistics.median(r[1] for r in runs)
            print(
                f"{pkg:<14} {bare:>12.2f} s {compile_:>10.2f} s "
                f"{load:>16.2f} s {check:>12.3f} s {load + check:>11.2f} s"
            )
    print()
    print("one-off build of the oracle binary into an empty XDG_CACHE_HOME:")
    print(f"  Go build cache empty too (a first run on a new machine): {_cold_build(tc, keep_gocache=False):6.1f} s")
    print(f"  Go build cache kept warm (GOCACHE set to the user's):    {_cold_build(tc, keep_gocache=True):6.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
