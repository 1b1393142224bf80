"""Time `goescape check` beside the bare compiles it cannot do without, and print the figures.

Run: python benchmarks/check.py [--repeat N] [--goescape PATH]

The limit is one `go build -gcflags=-m=2` per revision compared: for `--base REV`, the work tree and
the base (in goescape's worktree); for `--baseline FILE`, the work tree alone. Targets:
- examples/, copied into a fresh git repository of two commits (the second adds an escape), checked
  with `--base HEAD~1`;
- the standard library slice strings strconv encoding/json net/url text/template: the standard
  library is no git repository here, so its two revisions are `--write-baseline` (the base's
  compile) and `--baseline` (the work tree's), two compiles in all, one each.
Each command runs once to warm the build cache and goescape's worktree, then N times: median seconds.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from bench import ROOT, STD, command_line, git, timed  # benchmarks/bench.py: this script's folder is first on sys.path

ADDED = "\n// Leak exists so that the benchmark's second commit adds one escape.\nfunc Leak(n int) *int { return &n }\n"


def _row(target: str, command: str, seconds: float, code: int | str = "", ratio: float | None = None) -> None:
    shown = f"{ratio:8.1f}" if ratio is not None else f"{'':>8}"
    print(f"{target:<10} {command:<44} {seconds:8.2f} {code!s:>5} {shown}")


def main() -> int:
    repeat, go, goescape = command_line(__doc__)
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, GOESCAPE_CACHE_DIR=str(Path(tmp) / "cache"))
        repo = Path(tmp) / "repo"
        shutil.copytree(ROOT / "examples", repo)
        git("init", "-q", "-b", "main", cwd=repo)
        git("add", "-A", cwd=repo)
        git("commit", "-qm", "base", cwd=repo)
        with open(repo / "shop" / "shop.go", "a") as fh:
            fh.write(ADDED)
        git("commit", "-qam", "one escape more", cwd=repo)
        baseline = Path(tmp) / "std.baseline.json"
        print(f"{'target':<10} {'command':<44} {'seconds':>8} {'exit':>5} {'÷ limit':>8}")
        examples, _ = timed([go, "build", "-gcflags=-m=2", "-o", os.devnull, "./..."], repo, repeat, env)
        _row("examples", "go build -gcflags=-m=2 (warm)", examples)
        _row("examples", "limit: 2 compiles", 2 * examples, ratio=1.0)
        seconds, code = timed([goescape, "check", "--base", "HEAD~1", "./..."], repo, repeat, env)
        _row("examples", "goescape check --base HEAD~1", seconds, code, seconds / (2 * examples))
        std, _ = timed([go, "build", "-gcflags=-m=2", "-o", os.devnull, *STD], Path(tmp), repeat, env)
        _row("std slice", "go build -gcflags=-m=2 (warm)", std)
        _row("std slice", "limit: 2 compiles", 2 * std, ratio=1.0)
        wrote, code = timed([goescape, "check", "--write-baseline", str(baseline), *STD], Path(tmp), repeat, env)
        _row("std slice", "goescape check --write-baseline (base)", wrote, code, wrote / std)
        read, code = timed([goescape, "check", "--baseline", str(baseline), *STD], Path(tmp), repeat, env)
        _row("std slice", "goescape check --baseline (work tree)", read, code, read / std)
        _row("std slice", "both revisions", wrote + read, ratio=(wrote + read) / (2 * std))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
