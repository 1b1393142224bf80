"""Dogfood yield: goescape fix over real Go code, what it proposes, proves and saves, and what it breaks.

Run: python benchmarks/yield.py [--goescape PATH] [--only NAME...] [--json OUT]

The corpus is STD (standard library packages, each its own target, rewritten only through
`fix --write-overlay`, so GOROOT is never written) and MODULES (golang.org/x modules at pinned
versions: `go mod download` into Go's own module cache, copied into a temporary folder, their
dependencies downloaded with `go mod download`, and rewritten there with `fix --write`). Each target
runs `goescape fix --json --short`; a goescape without `--short` (an older checkout, for a baseline)
gets -short through GOFLAGS instead, which go test reads and go build, vet and list ignore, and the
output says so (`--no-short` runs the tests in full: go/parser's alone then took over 35 minutes).

It prints one line per target (seconds, escape lines, results), one per codemod (proposed, verified,
verified with a measured saving, rejected, skipped) with its commonest skip and reject reasons
(identifiers, file positions and quoted text dropped so alike reasons group), then the breakage
check: every verified rewrite applied together (all std overlays merged into one; the written module
copies), go build, go vet and go test -short over the corpus packages and their importers within the
corpus, counting the verified rewrites in packages that fail (a package that fails without the
rewrites too is reported apart). Then seconds per target and in all. Never run by pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Quick with -short, and full of fmt, strconv, sort and append code. Left out: encoding/json (its tests
# and benchmarks under -memprofilerate=1, which measuring runs, take over 150 s) and archive/zip (30 s).
STD = [
    "strings",
    "strconv",
    "bytes",
    "bufio",
    "encoding/xml",
    "encoding/csv",
    "encoding/base64",
    "encoding/binary",
    "encoding/hex",
    "net/url",
    "net/textproto",
    "net/mail",
    "mime",
    "mime/multipart",
    "text/template",
    "html/template",
    "text/tabwriter",
    "html",
    "go/scanner",
    "go/parser",
    "go/printer",
    "go/doc",
    "go/format",
    "regexp",
    "regexp/syntax",
    "archive/tar",
    "compress/gzip",
    "image/png",
    "flag",
    "log/slog",
    "expvar",
    "path/filepath",
]

# module: (version, package patterns inside the module). The versions sit in the module proxy.
MODULES: dict[str, tuple[str, list[str]]] = {
    "golang.org/x/mod": ("v0.34.0", ["./modfile", "./module", "./semver", "./sumdb/note", "./sumdb/dirhash"]),
    "golang.org/x/text": (
        "v0.35.0",
        [
            "./language",
            "./internal/language",
            "./message",
            "./internal/catmsg",
            "./feature/plural",
            "./number",
            "./internal/number",
            "./currency",
            "./transform",
            "./runes",
            "./width",
            "./encoding/charmap",
        ],
    ),
    "golang.org/x/net": (
        "v0.52.0",
        [
            "./html",
            "./dns/dnsmessage",
            "./http/httpguts",
            "./http/httpproxy",
            "./idna",
            "./publicsuffix",
            "./http2/hpack",
            "./websocket",
            "./trace",
            "./webdav",
        ],
    ),
}


@dataclass
class Target:
    name: str  # the std package, or the module path
    cwd: Path
    patterns: list[str]
    module: str = ""  # empty for std
    seconds: float = 0.0
    escapes: int | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    error: list[str] = field(default_factory=list)  # goescape's last stderr lines when it failed
    overlay: Path | None = None


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`command` in a process group of its own, which is ended with it when this script is stopped."""
    with subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    ) as proc:
        try:
            stdout, stderr = proc.communicate()
        except BaseException:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()
            raise
    return subprocess.CompletedProcess(command, proc.returncode, stdout, stderr)


def _go(go: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return _run([go, *args], cwd)


def saves(m: dict[str, Any] | None) -> bool:
    """The rule of results.Measurement.saves: fewer allocations, or as many and fewer bytes by >= 1% and 8 B."""
    if not m:
        return False
    before, after = m["allocs"]["before"], m["allocs"]["after"]
    if before != after:
        return bool(after < before)
    spent = m.get("bytes")
    if not spent:
        return False
    return bool(spent["before"] - spent["after"] >= max(8.0, 0.01 * spent["before"]))


KEEP = {"allocs/op", "B/op", "ns/op", "--size-limit", "--allow-overcap", "--allow-api-change", "--all-patterns"}
_PAREN = re.compile(r"\([^()]*\)")
_RULES: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    (re.compile(r"[\w.*\[\]/&-]*\w⟨…⟩"), "‹x›⟨…⟩"),  # calls
    (re.compile(r"⟨…⟩"), "(…)"),
    (re.compile(r"%[-+# 0-9.*\[\]]*[a-zA-Z]"), "%v"),  # format verbs
    (re.compile(r"(?<![\w‹.])[-+]?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?\b"), "‹n›"),
    (re.compile(r"(?<![-\w‹])[\w.*\[\]/-]*[A-Z._*\[\]/][\w.*\[\]/-]*"), lambda m: _code(m.group())),
    (re.compile(r"^\w+(?= is | \(…\))"), "‹x›"),  # a variable the reason opens with
    (re.compile(r"\b(appends to|element to|uses) [a-z_]\w*\b"), r"\1 ‹x›"),
    (re.compile(r"\b(returns|through|of) [a-z_]\w*\b(?! \w)"), r"\1 ‹x›"),
    (re.compile(r"\b(alignment,) [a-z_]\w*\b"), r"\1 ‹x›"),
    (re.compile(r"\(…\)‹x›"), "‹x›"),  # a method with its receiver
    (re.compile(r"(?<= in )(?:(?! in )[^:;])*?(?=, which runs it)"), "‹tests›"),
    (re.compile(r"runs it (?:once|\S+ times)"), "runs it ‹n› times"),
]
_QUOTED = re.compile(r"\"[^\"]*\"|(?<!\w)'[^']*'(?!\w)|`[^`]*`")
_POSITION = re.compile(r"[\w./-]+\.go:\d+")


def _code(token: str) -> str:
    word = token.rstrip(".,:")
    if word in KEEP or re.fullmatch(r"[a-z]+", word):
        return token
    return "‹x›" + token[len(word) :]


def normalise(reason: str) -> str:
    """A reason's first clause with names, positions, numbers and quoted text taken out, so alike reasons group."""
    text = _POSITION.sub("‹pos›", _QUOTED.sub("‹s›", reason))
    text = text.split("; ")[0].strip()
    while _PAREN.search(text):  # code in parentheses, innermost first
        text = _PAREN.sub("⟨…⟩", text)
    for rule, replacement in _RULES:
        text = rule.sub(replacement, text)
    return text


def _has_short(goescape: str) -> bool:
    out = subprocess.run([goescape, "fix", "--help"], capture_output=True, text=True, check=False)
    return "--short" in out.stdout


def _fix(goescape: str, go: str, target: Target, flags: list[str], env: dict[str, str] | None) -> None:
    start = time.perf_counter()
    out = _run([goescape, "fix", "--json", "--go", go, *flags, *target.patterns], target.cwd, env)
    target.seconds = time.perf_counter() - start
    if out.returncode != 0:
        target.error = out.stderr.strip().splitlines()[-6:] or [f"exit {out.returncode}"]
        return
    report = json.loads(out.stdout)
    target.results = report["results"]
    escapes = report.get("escapes")
    if isinstance(escapes, dict):
        target.escapes = escapes.get("before")
    else:  # a report without escape counts: ask scan
        scan = _run([goescape, "scan", "--json", "--go", go, *target.patterns], target.cwd)
        if scan.returncode == 0:
            target.escapes = json.loads(scan.stdout)["totals"]["total"]


def _package_of(target: Target, file: str, goroot: Path) -> str:
    path = Path(file)
    if not target.module:
        return str((path if path.is_absolute() else target.cwd / path).parent.relative_to(goroot / "src"))
    folder = (path if path.is_absolute() else target.cwd / path).parent.relative_to(target.cwd)
    return target.module if str(folder) == "." else f"{target.module}/{folder}"


def _prepare_module(go: str, module: str, version: str, root: Path) -> tuple[Path, Path]:
    """A writable copy of module@version to rewrite and a pristine one to compare with, deps downloaded."""
    out = _go(go, "mod", "download", "-json", f"{module}@{version}", cwd=root)
    if out.returncode != 0:
        raise SystemExit(f"yield: go mod download {module}@{version}: {out.stderr.strip() or out.stdout.strip()}")
    source = Path(json.loads(out.stdout)["Dir"])
    copies = []
    for side in ("work", "pristine"):
        copy = root / side / module.replace("/", "_")
        shutil.copytree(source, copy)
        for folder, _, files in os.walk(copy):  # the module cache is read-only
            os.chmod(folder, 0o755)
            for name in files:
                os.chmod(Path(folder) / name, 0o644)
        copies.append(copy)
    deps = _go(go, "mod", "download", cwd=copies[0])
    if deps.returncode != 0:
        raise SystemExit(f"yield: go mod download in {module}: {deps.stderr.strip()}")
    return copies[0], copies[1]


_HEADER = re.compile(r"^# (\S+)")


def _failing(go: str, verb: list[str], packages: list[str], cwd: Path) -> tuple[set[str], str]:
    """The packages among `packages` for which `go VERB` fails, and the command's output when it does."""
    out = _go(go, *verb, *packages, cwd=cwd)
    if out.returncode == 0:
        return set(), ""
    text = out.stdout + out.stderr
    named = set()
    for line in text.splitlines():
        hit = _HEADER.match(line) or (re.match(r"^FAIL\s+(\S+)", line) if verb[0] == "test" else None)
        if hit:
            name = hit.group(1).removesuffix("_test")
            named.add(name)
    bad = {p for p in packages if p in named}
    if not bad:  # could not tell which: try each on its own
        bad = {p for p in packages if _go(go, *verb, p, cwd=cwd).returncode != 0}
    return bad, text


def _check(go: str, packages: list[str], cwd: Path, overlay: list[str]) -> dict[str, set[str]]:
    """go build, vet and test -short over `packages`: the failing ones for each."""
    failing: dict[str, set[str]] = {}
    for verb in (["build", "-o", os.devnull], ["vet"], ["test", "-short", "-count=1"]):
        bad, text = _failing(go, [*verb, *overlay], packages, cwd)
        failing[verb[0]] = bad
        if bad:
            print(f"  go {verb[0]} fails in {' '.join(sorted(bad))}:", file=sys.stderr)
            print("    " + "\n    ".join(text.strip().splitlines()[-15:]), file=sys.stderr)
    return failing


def _module_scope(go: str, copy: Path, patterns: list[str], changed: set[str]) -> list[str]:
    """The packages of `patterns` and every package of the module that imports a changed one."""
    mine = _go(go, "list", *patterns, cwd=copy).stdout.split()
    scope = set(mine)
    if changed:
        listed = _go(go, "list", "-e", "-json=ImportPath,Deps", "./...", cwd=copy).stdout
        for chunk in re.findall(r"\{.*?\n\}", listed, flags=re.S):
            pkg = json.loads(chunk)
            if changed & set(pkg.get("Deps", [])):
                scope.add(pkg["ImportPath"])
    return sorted(scope)


def _merge_overlays(overlays: list[Path], into: Path) -> Path | None:
    replace: dict[str, str] = {}
    for overlay in overlays:
        if overlay.exists():
            replace |= json.loads(overlay.read_text())["Replace"]
    if not replace:
        return None
    into.write_text(json.dumps({"Replace": replace}))
    return into


def breakage(go: str, targets: list[Target], goroot: Path, tmp: Path, pristine: dict[str, Path]) -> dict[str, Any]:
    """Every verified rewrite applied together; the verified rewrites in packages that then fail."""
    verified: Counter[str] = Counter()
    for t in targets:
        for r in t.results:
            if r["result"] == "verified":
                verified[_package_of(t, r["file"], goroot)] += 1
    checked, failing, before = 0, set(), set()
    std = [t for t in targets if not t.module and not t.error]
    if std:
        overlay = _merge_overlays([t.overlay for t in std if t.overlay], tmp / "all-overlay.json")
        packages = [t.name for t in std]
        checked += len(packages)
        flags = [f"-overlay={overlay}"] if overlay else []
        bad = set().union(*_check(go, packages, tmp, flags).values())
        if bad and overlay:
            before |= set().union(*_check(go, sorted(bad), tmp, []).values())
        failing |= bad
    for t in targets:
        if not t.module or t.error:
            continue
        changed = {p for p in verified if p == t.module or p.startswith(t.module + "/")}
        packages = _module_scope(go, t.cwd, t.patterns, changed)
        checked += len(packages)
        bad = set().union(*_check(go, packages, t.cwd, []).values())
        if bad:
            before |= set().union(*_check(go, sorted(bad), pristine[t.name], []).values())
        failing |= bad
    broken = failing - before
    return {
        "packages_checked": checked,
        "failing": sorted(broken),
        "failing_without_rewrites_too": sorted(failing & before),
        "verified_in_failing": sum(verified[p] for p in broken),
        "verified_applied": sum(verified.values()),
    }


def tally(targets: list[Target]) -> dict[str, dict[str, Any]]:
    """Per codemod: proposed, verified, saved, rejected, skipped, and the top 3 skip and reject reasons."""
    rows: dict[str, dict[str, Any]] = {}
    for t in targets:
        for r in t.results:
            row = rows.setdefault(
                r["codemod"],
                {"counts": Counter(), "skip": Counter(), "reject": Counter(), "patterns": Counter()},
            )
            row["counts"]["proposed"] += 1
            row["counts"][r["result"]] += 1
            if r["result"] == "verified":
                row["counts"]["saved"] += saves(r.get("measurement"))
                if r.get("pattern"):
                    row["patterns"][r["pattern"]] += 1
            elif r["result"] == "rejected":
                row["reject"][f"{r['stage']}: {normalise(r['reason'])}"] += 1
            else:
                row["skip"][normalise(r["reason"])] += 1
    return {
        name: {
            "proposed": row["counts"]["proposed"],
            "verified": row["counts"]["verified"],
            "saved": row["counts"]["saved"],
            "rejected": row["counts"]["rejected"],
            "skipped": row["counts"]["skipped"],
            "verified_by_pattern": dict(row["patterns"]),
            "top_skips": row["skip"].most_common(3),
            "top_rejects": row["reject"].most_common(3),
        }
        for name, row in sorted(rows.items(), key=lambda kv: -kv[1]["counts"]["proposed"])
    }


def _counts(results: list[dict[str, Any]]) -> Counter[str]:
    c = Counter(r["result"] for r in results)
    c["saved"] = sum(saves(r.get("measurement")) for r in results if r["result"] == "verified")
    return c


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--goescape", help="the goescape to run (default: this environment's)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="only these targets (std packages or modules)")
    parser.add_argument("--json", dest="json_out", metavar="OUT", help="also write the table as JSON to OUT")
    parser.add_argument(
        "--no-short", action="store_true", help="run the code's tests in full (with neither --short nor GOFLAGS)"
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop as Ctrl-C does: temporary folders go
    go = shutil.which("go")
    goescape = args.goescape or shutil.which("goescape") or str(Path(sys.executable).parent / "goescape")
    if go is None:
        print("yield: no go on PATH", file=sys.stderr)
        return 2
    goroot = Path(_go(go, "env", "GOROOT", cwd=Path.cwd()).stdout.strip())
    go_version = _go(go, "env", "GOVERSION", cwd=Path.cwd()).stdout.strip()
    version = subprocess.run([goescape, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    short = _has_short(goescape)
    wanted = set(args.only or [*STD, *MODULES])
    unknown = wanted - set(STD) - set(MODULES)
    if unknown:
        print(f"yield: not in the corpus: {' '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    load = os.getloadavg()
    started = time.perf_counter()
    print(f"goescape yield · {version} ({goescape}) · {go_version} · {os.cpu_count()} cores")
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    flags, env = (["--short"] if short and not args.no_short else []), None
    if args.no_short:
        print("note: --no-short: the code's tests ran in full")
    elif not short:
        # Every go command goescape runs then has -short; build, vet and list ignore it.
        goflags = _go(go, "env", "GOFLAGS", cwd=Path.cwd()).stdout.strip()  # the environment's or go env -w's
        env = dict(os.environ, GOFLAGS=f"{goflags} -short".strip())
        print("note: this goescape has no fix --short: -short reached its go test runs through GOFLAGS instead")
    with tempfile.TemporaryDirectory(prefix="goescape-yield-") as tmp_name:
        tmp = Path(tmp_name)
        targets: list[Target] = []
        pristine: dict[str, Path] = {}
        for name in STD:
            if name in wanted:
                targets.append(
                    Target(name, tmp, [name], overlay=tmp / "overlays" / name.replace("/", "_") / "overlay.json")
                )
        for module, (version_pin, patterns) in MODULES.items():
            if module in wanted:
                work, pristine[module] = _prepare_module(go, module, version_pin, tmp)
                targets.append(Target(module, work, patterns, module=module))
        print(
            f"\n{'target':<20} {'seconds':>8} {'escapes':>8} {'proposed':>9} {'verified':>9} {'saved':>6}"
            f" {'rejected':>9} {'skipped':>8}"
        )
        for t in targets:
            print(f"… {t.name}", file=sys.stderr, flush=True)
            extra = ["--write-overlay", str(t.overlay.parent)] if t.overlay else ["--write"]
            _fix(goescape, go, t, [*flags, *extra], env)
            c = _counts(t.results)
            if t.error:
                print(f"{t.name:<20} {t.seconds:8.1f}  FAILED: {t.error[-1]}", flush=True)
                continue
            print(
                f"{t.name:<20} {t.seconds:8.1f} {t.escapes if t.escapes is not None else '?':>8} {len(t.results):9d}"
                f" {c['verified']:9d} {c['saved']:6d} {c['rejected']:9d} {c['skipped']:8d}",
                flush=True,
            )
        fix_seconds = time.perf_counter() - started
        rows = tally(targets)
        print(f"\n{'codemod':<20} {'proposed':>9} {'verified':>9} {'saved':>6} {'rejected':>9} {'skipped':>8}")
        for name, row in rows.items():
            print(
                f"{name:<20} {row['proposed']:9d} {row['verified']:9d} {row['saved']:6d} {row['rejected']:9d}"
                f" {row['skipped']:8d}"
            )
        totals = Counter[str]()
        for row in rows.values():
            totals.update({k: row[k] for k in ("proposed", "verified", "saved", "rejected", "skipped")})
        print(
            f"{'total':<20} {totals['proposed']:9d} {totals['verified']:9d} {totals['saved']:6d}"
            f" {totals['rejected']:9d} {totals['skipped']:8d}"
        )
        escapes = sum(t.escapes or 0 for t in targets)
        print(f"escape lines in the corpus (allocating, before any rewrite): {escapes}")
        print("(saved: verified with a run-time measurement of fewer allocations or bytes)")
        print("\ncommonest reasons (normalised), per codemod:")
        for name, row in rows.items():
            if row["verified_by_pattern"]:
                by = ", ".join(f"{p} {n}" for p, n in sorted(row["verified_by_pattern"].items()))
                print(f"  {name}: verified by pattern: {by}")
            for kind in ("top_skips", "top_rejects"):
                for reason, n in row[kind]:
                    print(f"  {name}: {kind[4:-1]} ×{n}: {reason}")
        print("\nbreakage check: every verified rewrite applied together; go build, vet, test -short", flush=True)
        check_start = time.perf_counter()
        broken = breakage(go, targets, goroot, tmp, pristine)
        check_seconds = time.perf_counter() - check_start
    total = time.perf_counter() - started
    print(
        f"breakage: {broken['verified_in_failing']} verified rewrites in packages that fail go build/vet/test -short"
        f" with all {broken['verified_applied']} applied ({broken['packages_checked']} packages checked"
        f"{', failing: ' + ' '.join(broken['failing']) if broken['failing'] else ''})"
    )
    if broken["failing_without_rewrites_too"]:
        print(f"  failing without the rewrites too: {' '.join(broken['failing_without_rewrites_too'])}")
    crashed = [t for t in targets if t.error]
    for t in crashed:
        print(f"goescape failed on {t.name} after {t.seconds:.1f} s:\n  " + "\n  ".join(t.error))
    slowest = sorted(targets, key=lambda t: -t.seconds)[:5]
    print("\nslowest targets: " + ", ".join(f"{t.name} {t.seconds:.0f} s" for t in slowest))
    load = os.getloadavg()
    print(
        f"seconds: fix {fix_seconds:.0f}, breakage check {check_seconds:.0f}, total {total:.0f}"
        f" ({total / 60:.1f} min); load average at end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    if args.json_out:
        payload = {
            "goescape": version,
            "go_version": go_version,
            "short": "no" if args.no_short else "--short" if short else "GOFLAGS",
            "targets": [
                {
                    "name": t.name,
                    "version": MODULES[t.module][0] if t.module else go_version,
                    "patterns": t.patterns,
                    "seconds": round(t.seconds, 1),
                    "escapes": t.escapes,
                    "counts": dict(_counts(t.results)) | {"proposed": len(t.results)},
                    "error": t.error,
                }
                for t in targets
            ],
            "codemods": rows,
            "escapes": escapes,
            "breakage": broken,
            "seconds": {"fix": round(fix_seconds), "breakage": round(check_seconds), "total": round(total)},
        }
        Path(args.json_out).write_text(json.dumps(payload, indent=2) + "\n")
    return 1 if broken["verified_in_failing"] or crashed else 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        print("yield: stopped", file=sys.stderr)
        raise SystemExit(130) from None
