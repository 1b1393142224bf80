"""One run, one fixed point: `fix --write`, then `fix` again must print an empty diff.

Run: python benchmarks/fixed_point.py [--std] [--keep]
On a copy of examples/ (always) and, with --std, on the standard library slice
strings strconv encoding/json net/url text/template in a copy of GOROOT (the real one is never
written; the copy's own `go` builds from the copy). Prints each target's seconds per run, the
number of verified rewrites of the first run, and the second run's diff size.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STD = ["strings", "strconv", "encoding/json", "net/url", "text/template"]


def _fix(goescape: str, go: Path, cwd: Path, patterns: list[str], *flags: str) -> tuple[float, dict[str, object]]:
    start = time.perf_counter()
    out = subprocess.run(
        [goescape, "fix", "--json", "--go", str(go), *flags, *patterns], cwd=cwd, capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        print(out.stderr.strip().splitlines()[-1:], file=sys.stderr)
        return seconds, {"results": [], "diff": "(failed)"}
    report: dict[str, object] = json.loads(out.stdout)
    return seconds, report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--std", action="store_true", help="also the standard library slice, in a copy of GOROOT")
    args = parser.parse_args()
    go = shutil.which("go")
    goescape = shutil.which("goescape") or str(Path(sys.executable).parent / "goescape")
    if go is None:
        print("fixed_point: no go on PATH", file=sys.stderr)
        return 2
    goroot = Path(subprocess.run([go, "env", "GOROOT"], capture_output=True, text=True, check=True).stdout.strip())
    print(f"{'target':<12} {'first run s':>12} {'verified':>9} {'second run s':>13} {'second diff lines':>18}")
    with tempfile.TemporaryDirectory(prefix="goescape-fixed-point-") as tmp:
        examples = Path(tmp) / "examples"
        shutil.copytree(ROOT / "examples", examples)
        targets = [("examples", Path(go), examples, ["./..."])]
        if args.std:
            copy = Path(tmp) / "goroot"
            shutil.copytree(goroot, copy, symlinks=True)
            targets.append(("std slice", copy / "bin" / "go", copy / "src", STD))
        failed = False
        for name, go_bin, cwd, patterns in targets:
            first_s, first = _fix(goescape, go_bin, cwd, patterns, "--write")
            verified = sum(1 for r in first["results"] if r["result"] == "verified")  # type: ignore[attr-defined, index]
            second_s, second = _fix(goescape, go_bin, cwd, patterns)
            diff = str(second["diff"])
            lines = len(diff.splitlines())
            failed |= bool(diff)
            print(f"{name:<12} {first_s:12.1f} {verified:9d} {second_s:13.1f} {lines:18d}")
            if diff:
                print(diff[:2000])
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
