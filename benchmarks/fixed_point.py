"""One run, one fixed point: a second `fix` over the first run's output must print an empty diff.

Run: python benchmarks/fixed_point.py [--std]
On a copy of examples/: `fix --write`, then `fix`. With --std, on the standard library slice
strings strconv encoding/json net/url text/template, which is never written: `fix
--write-overlay DIR`, then `fix --overlay DIR/overlay.json`. Prints each target's seconds per
run, the first run's verified rewrites, and the second run's diff lines (exit 1 when any).
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
    print(f"{'target':<12} {'first run s':>12} {'verified':>9} {'second run s':>13} {'second diff lines':>18}")
    with tempfile.TemporaryDirectory(prefix="goescape-fixed-point-") as tmp:
        examples = Path(tmp) / "examples"
        shutil.copytree(ROOT / "examples", examples)
        overlay = Path(tmp) / "overlay"
        targets = [("examples", examples, ["./..."], ["--write"], [])]
        if args.std:
            to_overlay = ["--write-overlay", str(overlay)]
            targets.append(("std slice", Path(tmp), STD, to_overlay, ["--overlay", str(overlay / "overlay.json")]))
        failed = False
        for name, cwd, patterns, first_flags, second_flags in targets:
            first_s, first = _fix(goescape, Path(go), cwd, patterns, *first_flags)
            verified = sum(1 for r in first["results"] if r["result"] == "verified")  # type: ignore[attr-defined, index]
            second_s, second = _fix(goescape, Path(go), cwd, patterns, *second_flags)
            diff = str(second["diff"])
            lines = len(diff.splitlines())
            failed |= bool(diff)
            print(f"{name:<12} {first_s:12.1f} {verified:9d} {second_s:13.1f} {lines:18d}")
            if diff:
                print(diff[:2000])
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
