"""Print issue 14's scale figures: goescape on a package of many files and on one very long function.

Run: python benchmarks/scale.py [--input files|function|both] [--commands compile,scan,fix]
                                [--files N] [--lines N] [--timeout S] [--goescape PATH]

Generates in a temporary folder (a) a module with one package of --files files (200), each with a
few functions holding escapes the codemods match (a pointer to a local returned, Sprintf of
values, an errors.New of a constant, append without a capacity, a string built with += in a
loop), and (b) a module with one function of about --lines lines (5,000) made of the same
patterns. For each it prints, once each and after a change to one file so that no go command
replays its build cache: a bare `go build -gcflags=-m=2` of the package, `goescape scan ./...
--no-cache`, and `goescape fix ./... --verify vet --no-measure --no-cache`, with the number of
escapes a codemod addresses (scan) and of proposals verified or rejected (fix). A run over
--timeout seconds is killed and printed as such. Issue 14 asks that scan cost at most a few
times the bare compile, and that fix grow with the proposals, not their square.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from bench import tools  # benchmarks/bench.py: this script's folder is first on sys.path

GO_MOD = "module example.com/scale\n\ngo 1.22\n"

FILE = """package big

import (
	"errors"
	"fmt"
	"strings"
)

type rec{i} struct {{
	id   int
	name string
}}

// newRec{i} returns a pointer to a local, which moves it to the heap.
func newRec{i}(id int, name string) *rec{i} {{
	r := rec{i}{{id: id, name: strings.TrimSpace(name)}}
	return &r
}}

func label{i}(id int) string {{
	r := newRec{i}(id, "item")
	return r.name + fmt.Sprint(r.id)
}}

// Addr{i} boxes both values into interfaces.
func Addr{i}(host string, port int) string {{
	return fmt.Sprintf("%s:%d", host, port)
}}

// Names{i} grows a slice by doubling.
func Names{i}(xs []rec{i}) []string {{
	names := []string{{}}
	for _, x := range xs {{
		names = append(names, x.name)
	}}
	return names
}}

// Join{i} copies everything built so far on every pass.
func Join{i}(parts []string) string {{
	s := ""
	for _, p := range parts {{
		s += p
	}}
	return s
}}

// Check{i} allocates a new error on every call.
func Check{i}(key string) error {{
	if key == "" {{
		return errors.New("empty key {i}")
	}}
	return nil
}}
"""

FUNCTION_HEAD = """package big

import (
	"errors"
	"fmt"
)

// Huge is one very long function: each block below repeats a pattern a codemod rewrites.
func Huge(xs []string, n int) ([]string, error) {
	var out []string
"""

BLOCK = """	k{i} := xs[{i}%len(xs)]
	out = append(out, fmt.Sprintf("%s-{i}:%d", k{i}, n))
	if n == {i} {{
		return out, errors.New("bad block {i}")
	}}
	names{i} := []string{{}}
	for _, x := range xs {{
		names{i} = append(names{i}, x)
	}}
	out = append(out, names{i}...)
	s{i} := ""
	for _, x := range xs {{
		s{i} += x
	}}
	out = append(out, s{i})
"""
BLOCK_LINES = BLOCK.count("\n")

FUNCTION_TAIL = """	return out, nil
}
"""


def write_files(root: Path, count: int) -> None:
    """A module with one package of `count` files."""
    (root / "big").mkdir(parents=True)
    (root / "go.mod").write_text(GO_MOD)
    for i in range(count):
        (root / "big" / f"f{i:03d}.go").write_text(FILE.format(i=i))


def write_function(root: Path, lines: int) -> None:
    """A module with one function of about `lines` lines."""
    (root / "big").mkdir(parents=True)
    (root / "go.mod").write_text(GO_MOD)
    blocks = "".join(BLOCK.format(i=i) for i in range(max(1, lines // BLOCK_LINES)))
    (root / "big" / "huge.go").write_text(FUNCTION_HEAD + blocks + FUNCTION_TAIL)


def fresh(root: Path) -> None:
    """Change one file of the package, so that no go command replays the package from its cache."""
    first = sorted((root / "big").glob("*.go"))[0]
    with first.open("a") as f:
        f.write(f"\n// scale benchmark {time.time_ns()}\n")


def run(command: list[str], cwd: Path, timeout: float) -> tuple[float, str | None]:
    """(seconds, stdout), or (seconds, None) when killed at the timeout; exits on a failure."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # goescape and the go commands it started
        proc.communicate()
        return time.perf_counter() - start, None
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)}: exit {proc.returncode}: {err.strip()[-2000:]}")
    return seconds, out


def row(target: str, what: str, seconds: float | None, bare: float | None, detail: str, timeout: float) -> None:
    if seconds is None:
        print(f"{target:<18} {what:<46} killed after {timeout:.0f} s", flush=True)
        return
    ratio = f"{seconds / bare:7.1f}x" if bare else f"{'':>8}"
    print(f"{target:<18} {what:<46} {seconds:8.2f} {ratio}  {detail}", flush=True)


def measure(target: str, root: Path, commands: set[str], go: str, goescape: str, timeout: float) -> None:
    # goescape leaves files that are not gofmt-clean alone: the generated ones must be.
    subprocess.run([str(Path(go).parent / "gofmt"), "-w", "big"], cwd=root, check=True)
    bare = None
    if "compile" in commands:
        fresh(root)
        bare, _ = run([go, "build", "-gcflags=-m=2", "-o", os.devnull, "./..."], root, timeout)
        row(target, "go build -gcflags=-m=2 (fresh)", bare, bare, "", timeout)
    if "scan" in commands:
        fresh(root)
        seconds, out = run([goescape, "scan", "./...", "--no-cache", "--json"], root, timeout)
        escapes = json.loads(out)["escapes"] if out is not None else []
        found = sum(str(e["class"]).replace("-", " ") == "addressed by codemod" for e in escapes)
        row(
            target,
            "goescape scan --no-cache",
            None if out is None else seconds,
            bare,
            f"{found} escapes addressed",
            timeout,
        )
    if "fix" in commands:
        fresh(root)
        fix = [goescape, "fix", "./...", "--verify", "vet", "--no-measure", "--no-cache", "--json"]
        seconds, out = run(fix, root, timeout)
        detail = ""
        if out is not None:
            results = [r["result"] for r in json.loads(out)["results"]]
            proposals = sum(r != "skipped" for r in results)
            detail = f"{proposals} proposals, {results.count('verified')} verified"
        row(
            target,
            "goescape fix --verify vet --no-measure --no-cache",
            None if out is None else seconds,
            bare,
            detail,
            timeout,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", choices=("files", "function", "both"), default="both")
    parser.add_argument("--commands", default="compile,scan,fix", help="comma-separated: compile, scan, fix")
    parser.add_argument("--files", type=int, default=200, help="files in the one package (200)")
    parser.add_argument("--lines", type=int, default=5000, help="lines of the one function (5000)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds before a run is killed (900)")
    parser.add_argument("--goescape", help="the goescape to time (default: this environment's)")
    args = parser.parse_args()
    go, goescape = tools(parser, args.goescape)
    commands = {c.strip() for c in args.commands.split(",") if c.strip()}
    print(f"{'target':<18} {'command':<46} {'seconds':>8} {'to go':>8}  found")
    with tempfile.TemporaryDirectory(prefix="goescape-scale-") as tmp:
        if args.input in ("files", "both"):
            root = Path(tmp) / "files"
            write_files(root, args.files)
            measure(f"{args.files} files", root, commands, go, goescape, args.timeout)
        if args.input in ("function", "both"):
            root = Path(tmp) / "function"
            write_function(root, args.lines)
            measure(f"{args.lines}-line function", root, commands, go, goescape, args.timeout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
