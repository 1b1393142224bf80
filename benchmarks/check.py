"""Time `goescape check` beside the bare compiles it cannot do without, and print the figures.

Run: python benchmarks/check.py [--repeat N] [--goescape PATH]

The limit is one `go build -gcflags=-m=2` per revision compared: for `--base REV`, the work tree and
the base (in goescape's worktree); for `--baseline FILE`, the work tree alone. Targets:
- examples/, copied into a fresh git repository of two commits (the second adds an escape), checked
  with `--base HEAD~1`;
- the standard library slice strings strconv encoding/json net/url text/template, checked with
  `--baseline` (the standard library is no git repository here), so its limit is one compile.
Each command runs once to warm the build cache and goescape's worktree, then N times: median seconds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench import ROOT, STD, command_line, timed  # benchmarks/bench.py: this script's folder is first on sys.path

ADDED = "\n// Leak exists so that the benchmark's second commit adds one escape.\nfunc Leak(n int) *int { return &n }\n"


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def main() -> int:
    repeat, go, goescape = command_line(__doc__)
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, GOESCAPE_CACHE_DIR=str(Path(tmp) / "cache"))
        repo = Path(tmp) / "repo"
        shutil.copytree(ROOT / "examples", repo)
        _git("init", "-q", "-b", "main", cwd=repo)
        _git("add", "-A", cwd=repo)
        _git("commit", "-qm", "base", cwd=repo)
        with open(repo / "shop" / "shop.go", "a") as fh:
            fh.write(ADDED)
        _git("commit", "-qam", "one escape more", cwd=repo)
        baseline = Path(tmp) / "std.baseline.json"
        subprocess.run([goescape, "check", "--write-baseline", str(baseline), *STD], cwd=tmp, env=env, check=True)
        print(f"{'target':<10} {'command':<44} {'seconds':>8} {'exit':>5} {'÷ limit':>8}")
        for name, cwd, patterns, gate, compiles in (
            ("examples", repo, ["./..."], ["--base", "HEAD~1"], 2),
            ("std slice", Path(tmp), STD, ["--baseline", str(baseline)], 1),
        ):
            bare, _ = timed([go, "build", "-gcflags=-m=2", "-o", os.devnull, *patterns], cwd, repeat, env)
            limit = bare * compiles
            print(f"{name:<10} {'go build -gcflags=-m=2 (warm)':<44} {bare:8.2f} {'':>5} {'':>8}")
            print(f"{name:<10} {f'limit: {compiles} compile(s)':<44} {limit:8.2f} {'':>5} {1.0:8.1f}")
            label = f"goescape check {' '.join(gate[:1])}"
            seconds, code = timed([goescape, "check", *gate, *patterns], cwd, repeat, env)
            print(f"{name:<10} {label:<44} {seconds:8.2f} {code:>5} {seconds / limit:8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
