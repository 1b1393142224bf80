"""The command line: a thin boundary over the runner that prints, writes and exits."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import shlex
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from goescape.engine import STOPPED, __version__, fixcache, formats, gate, report
from goescape.engine.calibration import calibrate, unprofitable
from goescape.engine.campaign_cli import campaign_group
from goescape.engine.codemod import Codemod, Options, Proposal, Skip, load_codemods
from goescape.engine.config import effective, excluded, load_config
from goescape.engine.config import rows as setting_rows
from goescape.engine.diffs import colour, display_path, unified_diff, unified_diffs
from goescape.engine.edits import render_file
from goescape.engine.errors import GoescapeError, PackageLoadError
from goescape.engine.facts import Classified
from goescape.engine.forges import TOKENS, Spec, authenticated, forge_for, guess_kind, parse_remote, pull_request_body
from goescape.engine.git import (
    GROUPINGS,
    CommitGroup,
    base_worktree,
    create_branch,
    current_branch,
    go_check,
    group_results,
    guard_commit,
    push,
    remote_url,
    repository_top,
)
from goescape.engine.guard import guards
from goescape.engine.modules import Module, find_modules
from goescape.engine.oracle import cache_dir
from goescape.engine.overlay import write_overlay
from goescape.engine.parsing import use_overlay
from goescape.engine.profiles import Profile, load_profile, rank
from goescape.engine.results import Result, Verified
from goescape.engine.runner import (
    Outcome,
    Session,
    bench,
    classify_session,
    final_contents,
    load,
    propose,
    verifier_for,
    verify,
)
from goescape.engine.runner import gate as drop_unprofitable
from goescape.engine.toolchain import (
    Toolchain,
    default_pgo,
    find_toolchain,
    overlay_files,
    pgo_file,
    resolve_patterns,
    with_overlay,
    with_pgo,
)
from goescape.engine.verify import LEVELS
from goescape.engine.writing import write_all

F = TypeVar("F", bound=Callable[..., Any])
_INVOCATION: list[str] = []  # this run's arguments, for the command that reproduces a branch


def _common(fn: F) -> F:
    fn = click.argument("patterns", nargs=-1)(fn)
    fn = click.option("-C", "directory", type=click.Path(file_okay=False), default=".", help="Run as if in DIR.")(fn)
    fn = click.option("--go", "go", envvar="GOESCAPE_GO", help="The go binary to use (or GOESCAPE_GO).")(fn)
    fn = click.option("--json", "as_json", is_flag=True, help="Print a JSON report for machines.")(fn)
    fn = click.option(
        "--overlay",
        "overlay",
        type=click.Path(dir_okay=False),
        help="Read files through a go overlay JSON file, as go build -overlay does (unsaved buffers).",
    )(fn)
    fn = click.option(
        "--pgo",
        "pgo",
        type=click.Path(dir_okay=False),
        help="Compile with this profile (-pgo=FILE); default: the main package's default.pgo, if any.",
    )(fn)
    return fn


def _configured(fn: F) -> F:
    """Fill what the command line left unset from goescape.toml at the module root (flags win).

    Applied right above the function, below the click options, so it sees the parsed values.
    """

    @functools.wraps(fn)
    def run(**kwargs: Any) -> Any:
        ctx = click.get_current_context()
        cwd = Path(kwargs.get("directory", ".")).resolve()
        if not cwd.is_dir():
            raise GoescapeError("no such directory", path=cwd, hint="give -C an existing folder")
        # The module the patterns name (`goescape scan m/...` from outside m reads m's file); what
        # is wrong with the patterns the command itself says.
        with contextlib.suppress(GoescapeError):
            cwd = resolve_patterns(kwargs.get("patterns") or ("./...",), cwd)[0]
        settings = effective(ctx, load_config(cwd))
        values = {k: v for k, v in settings.values.items() if k in kwargs}
        if kwargs.get("as_json") and settings.sources.get("format_specs") != "flag --format":
            values["format_specs"] = ()  # --json on the command line replaces the file's formats
        alternatives = [k for k in ("base", "baseline", "write_baseline_path") if k in values]
        if any(settings.sources[k].startswith("flag") for k in alternatives):
            # --baseline on the command line replaces the file's base, and the other way round.
            values |= {k: None for k in alternatives if not settings.sources[k].startswith("flag")}
        return fn(**{**kwargs, **values})

    return run  # type: ignore[return-value]


def _excluding(fn: F) -> F:
    return click.option(
        "--exclude",
        "exclude",
        multiple=True,
        metavar="GLOB",
        help="Leave out files matching GLOB, relative to the module root (repeatable; ** spans folders).",
    )(fn)


def _formatted(fn: F) -> F:
    return click.option(
        "--format",
        "format_specs",
        multiple=True,
        metavar="FMT[=FILE]",
        help="text, json, sarif or github, to stdout or =FILE; repeatable (--format sarif=escapes.sarif --format text).",
    )(fn)


def _destinations(specs: Sequence[str], as_json: bool, cwd: Path) -> tuple[formats.Destination, ...]:
    """--format's destinations; --json is --format json."""
    return formats.parse_formats([*specs, *(["json"] if as_json else [])], cwd)


def _toolchain(go: str | None, overlay: str | None, pgo: str | None = None, cwd: Path | None = None) -> Toolchain:
    """The toolchain, with the user's --overlay and the profile for -pgo in GOFLAGS; tree-sitter reads
    the same files. Without --pgo, the module's main package's default.pgo (found from `cwd`) is used,
    so that escapes are those of the binary that ships."""
    tc = find_toolchain(go)
    if overlay:
        tc = with_overlay(tc, Path(overlay))
    if pgo:
        tc = with_pgo(tc, ((cwd or Path.cwd()) / pgo).resolve())
    elif cwd is not None and "-pgo=" not in tc.run(["env", "GOFLAGS"], cwd).stdout:
        # GOFLAGS' own -pgo (a file, or off) is the user's choice; otherwise the module's default.pgo.
        profile = default_pgo(tc, cwd)
        tc = with_pgo(tc, profile) if profile is not None else tc
    use_overlay(overlay_files(tc))
    return tc


def _top(cwd: Path) -> Path:
    """Where reports' paths start: the git work tree's top level, else `cwd`."""
    try:
        return repository_top(cwd)
    except GoescapeError:
        return cwd


def _captured(print_to: Callable[[Console], None]) -> str:
    """What rich prints, as text: styled on a terminal (stdout), plain otherwise."""
    console = Console(
        file=io.StringIO(), width=None if sys.stdout.isatty() else 160, force_terminal=sys.stdout.isatty()
    )
    print_to(console)
    return str(console.file.getvalue())  # type: ignore[attr-defined]


def _deliver(
    destinations: Sequence[formats.Destination],
    cwd: Path,
    go_version: str,
    profile_name: str,
    *,
    payload: Callable[[], object],
    findings: Callable[[], Sequence[formats.Finding]],
    text: Callable[[], str],
) -> None:
    """Render and write a command's --format destinations: `payload` is its JSON, `text` what people
    read, and SARIF and GitHub annotations are its `findings`, with paths from the git top (or `cwd`).

    Each callable runs only when a format needs it, so a run without SARIF or annotations builds
    no findings and asks git nothing.
    """
    found = functools.cache(findings)

    def render(fmt: str) -> str:
        if fmt == "json":
            return json.dumps(payload(), indent=2) + "\n"
        if fmt == "sarif":
            log = formats.sarif(
                found(),
                root=_top(cwd),
                tool_version=__version__,
                go_version=go_version,
                properties={"pgo": profile_name},
            )
            return json.dumps(log, indent=2) + "\n"
        if fmt == "github":
            return formats.github(found(), _top(cwd))
        return text()

    formats.emit(destinations, render, sys.stdout)


def _pgo_text(tc: Toolchain, root: Path) -> str:
    """The profile every compile used, as reports name it ("" without one)."""
    profile = pgo_file(tc)
    if profile is None:
        return ""
    return display_path(profile, root)


def _console(stderr: bool = False) -> Console:
    """A rich console; piped output gets a wide fixed width instead of rich's 80 columns."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else 160)


def _select(names: Sequence[str]) -> list[Codemod]:
    codemods = load_codemods()
    if not names:
        return [c for c in codemods if c.default_on]
    known = {c.name: c for c in codemods}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise GoescapeError(f"unknown codemod {unknown[0]!r}", hint="`goescape list` shows them")
    return [known[n] for n in names]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="goescape")
def cli() -> None:
    """Remove the heap allocations Go's escape analysis reports, each rewrite proven by the compiler."""


def _profiled(fn: F) -> F:
    fn = click.option(
        "--min-share", type=float, default=0.0, metavar="PCT", help="With --profile: drop what accounts for less."
    )(fn)
    fn = click.option(
        "--profile", "profile_path", type=click.Path(dir_okay=False), help="A heap or CPU profile to rank by."
    )(fn)
    return fn


@cli.command("scan")
@_common
@_profiled
@click.option("--include-generated", is_flag=True, help="Also report generated files, vendor/ and testdata/.")
@click.option(
    "--all-modules",
    is_flag=True,
    help="Every module below -C DIR and in its go.work, each compiled in its own module; reports group by module.",
)
@_formatted
@_excluding
@_configured
def scan_cmd(
    patterns: tuple[str, ...],
    directory: str,
    go: str | None,
    as_json: bool,
    overlay: str | None,
    pgo: str | None,
    include_generated: bool,
    profile_path: str | None,
    min_share: float,
    all_modules: bool,
    format_specs: tuple[str, ...],
    exclude: tuple[str, ...],
) -> None:
    """Show what escapes to the heap, why, and which codemod can fix it.

    \b
    Example:
        goescape scan ./...
        goescape scan --json -C examples ./... > escapes.json
        goescape scan ./... --format sarif=escapes.sarif --format text
        goescape scan --all-modules
    """
    cwd = Path(directory).resolve()
    destinations = _destinations(format_specs, as_json, cwd)
    places: list[tuple[Module | None, Path, tuple[str, ...]]]
    if all_modules:
        _no_patterns(patterns)
        modules = find_modules(find_toolchain(go), cwd)
        places = [(m, m.root, ("./...",)) for m in modules]
    else:
        places = [(None, cwd, patterns or ("./...",))]
    pgo_path = str((cwd / pgo).resolve()) if pgo else None
    scans: list[tuple[Module | None, Scan]] = []
    for module, where, wanted in places:
        tc = _toolchain(go, overlay, pgo_path, where)
        session = load(tc, wanted, where, include_generated=include_generated)
        proposals = propose(session, _select(()), Options(), check_gofmt=False)
        items = [i for i in classify_session(session, proposals) if not excluded(i.fact.path, session.cwd, exclude)]
        shares: dict[int, float] | None = None
        if profile_path:
            profile = load_profile(tc, (cwd / profile_path).resolve())
            shares = {id(i): profile.line_share(i.fact.path, i.fact.line) for i in items}
            items = [i for i in sorted(items, key=lambda i: -shares[id(i)]) if shares[id(i)] * 100 >= min_share]
        profile_name = _pgo_text(tc, session.cwd)
        scans.append((module, Scan(tc.version, items, shares, profile_name)))
    version, first_pgo = scans[0][1].go_version, scans[0][1].pgo

    def payload() -> object:
        if not all_modules:
            one = scans[0][1]
            return report.scan_json(one.items, cwd, one.go_version, one.shares, one.pgo)
        return {
            "version": report.JSON_VERSION,
            "command": "scan",
            "go_version": version,
            "modules": [
                {
                    "module": m.path,
                    "folder": m.relative(cwd),
                    **report.scan_json(one.items, cwd, version, one.shares, one.pgo),
                }
                for m, one in scans
                if m is not None
            ],
        }

    def tables(console: Console) -> None:
        for module, one in scans:
            if module is not None:
                console.print(f"module {module.path} ({module.relative(cwd)})", markup=False, highlight=False)
            compiled_with = one.go_version + (f" -pgo={one.pgo}" if one.pgo else "")
            report.scan_tables(console, one.items, cwd, compiled_with, one.shares)

    _deliver(
        destinations,
        cwd,
        version,
        first_pgo,
        payload=payload,
        findings=lambda: [f for _, one in scans for f in formats.scan_findings(one.items)],
        text=lambda: _captured(tables),
    )


@dataclass(frozen=True)
class Scan:
    """What `scan` found in one module (or in the patterns given)."""

    go_version: str
    items: list[Classified]
    shares: dict[int, float] | None
    pgo: str


def _no_patterns(patterns: Sequence[str]) -> None:
    if patterns:
        raise GoescapeError(
            f"--all-modules covers ./... of every module, so it takes no patterns (got {' '.join(patterns)})",
            hint="leave the patterns out, or drop --all-modules and run inside one module",
        )


@cli.command("check")
@_common
@_profiled
@click.option("--base", "base", metavar="REV", help="Report escapes new since REV (a revision, or merge-base:BRANCH).")
@click.option(
    "--baseline", type=click.Path(dir_okay=False), help="Report escapes not recorded in FILE (from --write-baseline)."
)
@click.option(
    "--write-baseline",
    "write_baseline_path",
    type=click.Path(dir_okay=False),
    help="Record the work tree's escapes in FILE for later --baseline checks, and exit 0.",
)
@_formatted
@_excluding
@_configured
def check_cmd(
    patterns: tuple[str, ...],
    directory: str,
    go: str | None,
    as_json: bool,
    overlay: str | None,
    pgo: str | None,
    profile_path: str | None,
    min_share: float,
    base: str | None,
    baseline: str | None,
    write_baseline_path: str | None,
    format_specs: tuple[str, ...],
    exclude: tuple[str, ...],
) -> None:
    """Fail on escapes that are new since a base revision or a baseline, or that a directive forbids.

    Escapes are matched by package, function, kind and expression, not by line: code that moved is
    not new. `//goescape:ignore <reason>` on (or above) a line silences it; `//goescape:noescape`
    (or gcassert's `//gcassert:noescape`) on a line or a function fails when anything there escapes.
    Exit 0 when nothing is new, 1 when something is, 2 on error.

    \b
    Example:
        goescape check ./... --base merge-base:origin/main
        goescape check ./... --base HEAD~1 --format sarif=escapes.sarif --format text
        goescape check ./... --write-baseline escapes.baseline.json
        goescape check ./... --baseline escapes.baseline.json --format github
    """
    given = {"--base": base, "--baseline": baseline, "--write-baseline": write_baseline_path}
    if sum(v is not None for v in given.values()) > 1:
        raise GoescapeError("give one of --base, --baseline and --write-baseline", hint="they are alternatives")
    if empty := next((flag for flag, v in given.items() if v is not None and not v.strip()), None):
        # An unset CI variable (--base "$BASE") must not turn the gate into a check of directives alone.
        raise GoescapeError(
            f"{empty} is empty", hint="pass a revision or file; leave the flag out to check directives only"
        )
    cwd = Path(directory).resolve()
    destinations = _destinations(format_specs, as_json, cwd)
    tc = _toolchain(go, overlay, pgo, cwd)
    head = load(tc, patterns or ("./...",), cwd)
    escapes = [
        e
        for e in gate.counted(head.facts, head.sources, head.cwd, [p.dir for p in head.packages])
        if not excluded(e.fact.path, head.cwd, exclude)
    ]
    profile_name = _pgo_text(tc, head.cwd)
    if write_baseline_path:
        target = (cwd / write_baseline_path).resolve()
        gate.write_baseline(target, escapes, tc.version, profile_name)
        _console(stderr=True).print(f"recorded {len(escapes)} escape(s) in {target}", markup=False)
        return
    counts, against, top = None, "", _top(cwd)
    if base is not None:
        with base_worktree(cwd, base, cache_dir()) as b:
            if not head.cwd.is_relative_to(b.top):
                raise GoescapeError(
                    f"the module's go.mod is outside the git repository {b.top}", path=head.cwd, hint="use --baseline"
                )
            there = b.tree / head.cwd.relative_to(b.top)  # the module, as it was at the base
            base_cwd = b.tree / cwd.relative_to(b.top)
            # A package new since the base is all new; the others are still compared.
            old_patterns = [p for p in (patterns or ("./...",)) if _exists_in(p, cwd, base_cwd)]
            counts, missing = Counter[gate.Key](), ""
            if (there / "go.mod").is_file() and old_patterns:
                base_tc, pgo_path = find_toolchain(go), pgo_file(tc)
                base_tc = with_pgo(base_tc, pgo_path) if pgo_path is not None else base_tc
                try:
                    old = load(base_tc, old_patterns, base_cwd)
                    counts = Counter(
                        e.key
                        for e in gate.counted(old.facts, old.sources, there, [p.dir for p in old.packages])
                        if not excluded(e.fact.path, there, exclude)
                    )
                except PackageLoadError:
                    missing = "; the packages did not exist there"  # everything in them is new
                except GoescapeError as exc:
                    hint = (
                        exc.hint
                        + "; " * bool(exc.hint)
                        + "a base that does not build cannot be compared: use --baseline"
                    )
                    raise GoescapeError(f"at the base {base}: {exc.message}", path=exc.path, hint=hint) from None
            else:
                missing = "; the module did not exist there" if old_patterns else "; the packages did not exist there"
            against = f"base {base} ({b.commit[:12]}){missing}"
    elif baseline is not None:
        recorded = (cwd / baseline).resolve()
        counts = gate.read_baseline(recorded)
        note = gate.baseline_note(recorded, tc.version, profile_name)
        against = f"baseline {baseline}" + (f" ({note})" if note else "")
    files = [f for p in head.packages for f in p.go_files if not excluded(f, head.cwd, exclude)]
    hot = None
    if profile_path:
        profile = load_profile(tc, (cwd / profile_path).resolve())
        hot = {e.key: _share(profile, head, e) * 100 >= min_share for e in escapes}
    verdict = gate.judge(escapes, counts, gate.directives(files), against=against, hot=hot)
    found = [_with_fix(f, verdict, tc.version) for f in gate.findings(verdict)]

    _deliver(
        destinations,
        cwd,
        tc.version,
        profile_name,
        payload=lambda: report.check_json(verdict, top, tc.version, profile_name),
        findings=lambda: found,
        text=lambda: formats.text(found, top) + report.check_summary(verdict, tc.version, profile_name) + "\n",
    )
    if all(d.path is not None for d in destinations):
        # Only files were asked for: a CI log still says in one line whether the gate passed.
        print(report.check_summary(verdict, tc.version, profile_name), file=sys.stderr)
    if verdict.failed:
        raise SystemExit(1)


def _exists_in(pattern: str, cwd: Path, base_cwd: Path) -> bool:
    """Whether a directory pattern's folder exists at the base (an import path is taken as it is)."""
    folder = (cwd / (pattern.removesuffix("...").removesuffix("/") or ".")).resolve()
    if not folder.is_dir():
        return True
    return (base_cwd / os.path.relpath(folder, cwd)).is_dir()


def _share(profile: Profile, session: Session, e: gate.Escape) -> float:
    src = session.sources.get(e.fact.path)
    span = gate.function_span(src, e.fact) if src is not None else None
    return profile.function_share(e.fact.path, span, f"{e.fact.package}.{e.fact.function}")


def _with_fix(finding: formats.Finding, verdict: gate.Verdict, go_version: str) -> formats.Finding:
    """A new escape with the verified rewrite a `fix` run cached for this line of this tree."""
    fact = next((e.fact for e in verdict.new if e.fingerprint == finding.fingerprint), None)
    fix = fixcache.recall(cache_dir() / "fixes", fact, go_version) if fact is not None else None
    return replace(finding, fix=fix) if fix is not None else finding


@cli.command("fix")
@_common
@_profiled
@click.option("--write", is_flag=True, help="Write the verified rewrites into the files.")
@click.option(
    "--write-overlay",
    "write_overlay_dir",
    type=click.Path(file_okay=False),
    help="Write the rewritten files and their overlay.json into DIR (the tree is untouched).",
)
@click.option("--check", is_flag=True, help="Exit 1 when verified rewrites exist.")
@click.option("--codemod", "codemod_names", multiple=True, help="Run only this codemod (repeatable).")
@click.option(
    "--verify", "level", type=click.Choice(LEVELS), default="test", show_default=True, help="How far to verify."
)
@click.option("--size-limit", type=int, default=128, show_default=True, help="return-value: largest struct, in bytes.")
@click.option("--allow-api-change", is_flag=True, help="Also change exported functions' signatures.")
@click.option("--colour/--no-colour", "use_colour", default=None, help="Colour the diff (default: on a terminal).")
@click.option(
    "--measure/--no-measure",
    default=True,
    show_default=True,
    help="Measure allocations with the code's own tests and benchmarks.",
)
@click.option("--short", is_flag=True, help="Run the code's tests with -short (go test's flag for quick runs).")
@click.option(
    "--guard",
    is_flag=True,
    help="Add a test beside each measured rewrite that fails when its path allocates more again (AllocsPerRun).",
)
@click.option("--all-patterns", is_flag=True, help="Also try patterns calibrated to save nothing on this toolchain.")
@click.option("--allow-overcap", is_flag=True, help="prealloc: also conditional appends (may over-allocate).")
@click.option("--interactive", "-i", is_flag=True, help="Review each verified rewrite; the accepted ones are written.")
@click.option(
    "--all-modules",
    is_flag=True,
    help="Every module below -C DIR and in its go.work, each verified in its own module; reports group by module.",
)
@click.option(
    "--branch", "branch_name", metavar="NAME", help="Commit the rewrites on a new branch; the checkout is untouched."
)
@click.option(
    "--commit-per", type=click.Choice(GROUPINGS), default="codemod", show_default=True, help="One commit per ..."
)
@click.option("--force", is_flag=True, help="Replace an existing branch of that name.")
@click.option("--pr", is_flag=True, help="Push the branch and open (or update) a pull request.")
@click.option("--forge", type=click.Choice(sorted(TOKENS)), help="The forge (default: guessed from the remote).")
@click.option("--base-url", help="The forge's URL, e.g. https://gitlab.example.com (default: from the remote).")
@click.option("--remote", default="origin", show_default=True, help="The remote to push to.")
@click.option("--base", "base_branch", help="The branch the pull request targets (default: the current one).")
@click.option("--draft", is_flag=True, help="Open the pull request as a draft.")
@click.option("--labels", default="", help="Comma-separated labels for the pull request.")
@click.option("--reviewers", default="", help="Comma-separated reviewers to request.")
@click.option("--dry-run", is_flag=True, help="Print the branch, the commits and the body; create and contact nothing.")
@click.option(
    "--bench", "bench_regex", metavar="REGEX", help="Run the changed packages' matching benchmarks before and after."
)
@click.option(
    "--count",
    "bench_count",
    type=click.IntRange(min=6),
    default=6,
    show_default=True,
    help="Runs per side for --bench.",
)
@_formatted
@_excluding
@_configured
def fix_cmd(
    patterns: tuple[str, ...],
    directory: str,
    go: str | None,
    as_json: bool,
    overlay: str | None,
    pgo: str | None,
    format_specs: tuple[str, ...],
    exclude: tuple[str, ...],
    write_overlay_dir: str | None,
    write: bool,
    check: bool,
    codemod_names: tuple[str, ...],
    level: str,
    size_limit: int,
    allow_api_change: bool,
    use_colour: bool | None,
    measure: bool,
    short: bool,
    guard: bool,
    all_patterns: bool,
    allow_overcap: bool,
    bench_regex: str | None,
    bench_count: int,
    interactive: bool,
    all_modules: bool,
    branch_name: str | None,
    commit_per: str,
    force: bool,
    pr: bool,
    forge: str | None,
    base_url: str | None,
    remote: str,
    base_branch: str | None,
    draft: bool,
    labels: str,
    reviewers: str,
    dry_run: bool,
    profile_path: str | None,
    min_share: float,
) -> None:
    """Print a unified diff of the verified rewrites; --write applies them.

    \b
    Example:
        goescape fix ./...
        goescape fix ./... --codemod return-value --write
        goescape fix -C examples ./... | git apply
        goescape fix ./... --interactive
        goescape fix ./... --branch goescape/allocs --commit-per package
        GITHUB_TOKEN=... goescape fix ./... --pr --labels performance --draft
        goescape fix ./... --write --guard
    """
    if interactive:
        # questionary (prompt_toolkit) costs a quarter second to import: only --interactive pays it.
        from goescape.engine.review import ensure_terminal

        ensure_terminal()  # refuse before minutes of verification, not after
    destinations = _destinations(format_specs, as_json, Path(directory).resolve())
    tc = _toolchain(go, overlay, pgo, Path(directory).resolve())
    if overlay_files(tc) and (write or interactive or branch_name or pr):
        raise GoescapeError(
            "--write, --interactive, --branch and --pr change the files on disk, which the overlay replaces",
            path=overlay or "GOFLAGS -overlay",
            hint="use --write-overlay DIR to get the rewritten files as another overlay",
        )
    cwd = Path(directory).resolve()
    codemods = _select(codemod_names)
    err = _console(stderr=True)
    places: list[tuple[Module | None, Path, tuple[str, ...]]]
    if all_modules:
        _no_patterns(patterns)
        together = [f for f, on in (("--interactive", interactive), ("--guard", guard), ("--bench", bench_regex)) if on]
        if together:
            raise GoescapeError(
                f"{together[0]} does not work with --all-modules yet",
                hint="run it inside each module (-C DIR), or drop --all-modules",
            )
        places = [(m, m.root, ("./...",)) for m in find_modules(tc, cwd)]
    else:
        places = [(None, cwd, patterns or ("./...",))]
    pgo_path = str((cwd / pgo).resolve()) if pgo else None
    extra = {"allow_overcap": "true"} if allow_overcap else {}
    options = Options(size_limit=size_limit, allow_api_change=allow_api_change, extra=extra)
    test_flags = ("-short",) if short else ()
    runs: list[FixRun] = []
    for module, where, wanted in places:
        here = tc if module is None else _toolchain(go, overlay, pgo_path, where)
        if module is not None:
            err.print(f"module {module.path} ({module.relative(cwd)})", markup=False, highlight=False)
        session = load(here, wanted, where)
        proposals = [
            _left_out(p, exclude) if excluded(p.path, session.cwd, exclude) else p
            for p in propose(session, codemods, options)
        ]
        files = {p.path for p in proposals} | {t.path for p in proposals for t in p.targets if t.path.is_file()}
        proposals = gate.honoured(proposals, gate.directives(files))
        shares: dict[int, float] | None = None
        if profile_path:
            # Rank before verifying: what --min-share drops is never compiled, tested or measured.
            profile = load_profile(here, (cwd / profile_path).resolve())
            proposals, shares = rank(proposals, profile, min_share / 100)
        with err.status("verifying", spinner="dots") as status:
            if not all_patterns and any(isinstance(p, Proposal) for p in proposals):
                rows = calibrate(here, codemods, progress=lambda msg: status.update(msg))
                proposals = drop_unprofitable(proposals, unprofitable(rows))
            outcome = verify(
                session,
                proposals,
                level,
                progress=lambda msg: status.update(msg),
                measure=measure,
                test_flags=test_flags,
            )
        runs.append(FixRun(module, session, outcome, outcome.results, shares, _pgo_text(here, session.cwd)))
    session, outcome, shares = runs[0].session, runs[0].outcome, runs[0].shares
    results = outcome.results
    if interactive:
        accepted = _review(session, results, level, measure, cwd, test_flags)
        results = tuple(r for r in results if not isinstance(r, Verified)) + accepted
        runs[0] = replace(runs[0], results=results)
        write = not (branch_name or pr)  # what the user accepted is what they asked to have written
    changes: dict[Path, tuple[bytes, bytes]] = {}
    made: dict[str, object] | None = None
    for run in runs:
        changes.update(final_contents(run.session, run.results))
    guard_files: dict[Path, bytes] = {}
    if guard and changes:
        with err.status("writing guard tests", spinner="dots"):
            guarded = guards(session, [r for r in results if isinstance(r, Verified)], changes)
        guard_files = dict(guarded.files)
        changes.update({path: (b"", data) for path, data in guard_files.items()})
        for v, why in guarded.declined:
            err.print(f"no guard for {v.proposal.title()}: {why}", markup=False, highlight=False)
    if branch_name or pr:
        publication = Publication(
            branch_name or "goescape/fix", commit_per, force or pr, pr, forge, base_url, remote, base_branch, draft
        )
        done = [(run.session, run.results) for run in runs]
        made = _publish(
            done, cwd if all_modules else session.cwd, publication, labels, reviewers, dry_run, err, guard_files
        )
        write = False
    diff = unified_diffs(((p, old, new) for p, (old, new) in changes.items()), cwd)
    if write_overlay_dir:
        folder = Path(write_overlay_dir).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        written, _ = write_overlay(folder, {path: new for path, (_, new) in changes.items()}, overlay_files(tc))
        err.print(f"overlay: {written} (go build -overlay={written}, goescape --overlay {written})", markup=False)
    benchmarks = []
    if bench_regex:
        with err.status(f"benchmarking {bench_regex} ×{bench_count} before and after", spinner="dots"):
            benchmarks = bench(session, results, bench_regex, bench_count, changes)
    for run in runs:
        fixcache.remember(cache_dir() / "fixes", run.verified(), run.contents, tc.version)
    profile_name = runs[0].pgo

    def tables(console: Console) -> None:
        for run in runs:
            if run.module is not None:
                console.print(f"module {run.module.path} ({run.module.relative(cwd)})", markup=False, highlight=False)
            compiled_with = tc.version + (f" -pgo={run.pgo}" if run.pgo else "")
            report.fix_tables(console, run.outcome, cwd, compiled_with, level, run.shares)
        if bench_regex:
            report.bench_table(console, benchmarks, bench_count)

    def summary(run: FixRun) -> dict[str, object]:
        return {
            "pgo": run.pgo or None,
            "results": [report.result_json(r, cwd, run.shares) for r in run.results],
            "escapes": {"before": len(run.outcome.before), "after": len(run.outcome.after)},
        }

    def payload() -> dict[str, object]:
        head = {"version": report.JSON_VERSION, "command": "fix", "go_version": tc.version}
        if made:
            head |= {"branch": made}
        if all_modules:
            grouped = [
                {"module": r.module.path, "folder": r.module.relative(cwd), **summary(r)} for r in runs if r.module
            ]
            return head | {"verify": level, "modules": grouped, "diff": diff, "written": bool(write and changes)}
        one = summary(runs[0])
        return head | {
            "pgo": one["pgo"],
            "verify": level,
            "results": one["results"],
            "escapes": one["escapes"],
            "benchmarks": [report.change_json(c) for c in benchmarks],
            "diff": diff,
            "written": bool(write and changes),
        }

    to_stdout_text = formats.Destination("text", None) in destinations
    _deliver(
        [d for d in destinations if d != formats.Destination("text", None)],
        cwd,
        tc.version,
        profile_name,
        payload=payload,
        findings=lambda: [f for run in runs for f in formats.fix_findings(run.results, run.contents)],
        text=lambda: (diff if not write else "") + _captured(tables),
    )
    if to_stdout_text:
        # The diff alone on a pipe (`goescape fix ./... | git apply`); the tables go to stderr there.
        out = sys.stdout
        tty = out.isatty()
        if diff and not write:
            out.write(colour(diff) if (use_colour if use_colour is not None else tty) else diff)
            out.flush()
        tables(_console() if tty else err)
    if write and changes:
        write_all(changes)
        if to_stdout_text:
            err.print(f"wrote {len(changes)} file(s)")
    verified = any(isinstance(r, Verified) for run in runs for r in run.results)
    if check and verified:
        raise SystemExit(1)


@dataclass(frozen=True)
class FixRun:
    """What `fix` did in one module (or in the patterns given): its session, outcome and results."""

    module: Module | None
    session: Session
    outcome: Outcome
    results: tuple[Result, ...]
    shares: dict[int, float] | None
    pgo: str

    def verified(self) -> list[Verified]:
        return [r for r in self.results if isinstance(r, Verified)]

    def contents(self, p: Proposal) -> dict[Path, tuple[bytes, bytes]]:
        """The files as `p`'s verified rewrite alone leaves them (for the fix cache and SARIF fixes)."""
        return final_contents(self.session, [r for r in self.verified() if r.proposal == p])


def _left_out(p: Proposal | Skip, exclude: Sequence[str]) -> Skip:
    if isinstance(p, Skip):
        return p
    return Skip(p.codemod, p.path, p.line, p.function, f"left out by exclude ({', '.join(exclude)})", p.targets)


@dataclass(frozen=True)
class Publication:
    """Where the rewrites go besides the diff: a branch, and perhaps a pull request."""

    branch: str
    commit_per: str
    force: bool
    pr: bool
    forge: str | None
    base_url: str | None
    remote: str
    base: str | None
    draft: bool


def _reproduce() -> str:
    """The command that reproduces these rewrites: this one, without where they were sent."""
    drop = {"--branch", "--commit-per", "--remote", "--base", "--labels", "--reviewers", "--forge", "--base-url"}
    flags = {"--pr", "--force", "--draft", "--dry-run", "--interactive", "-i", "--write"}
    argv, kept, skip = list(_INVOCATION), [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in drop:
            skip = True
        elif arg.split("=", 1)[0] not in drop | flags:
            kept.append(arg)
    return "goescape " + shlex.join(kept)


def _publish(
    runs: Sequence[tuple[Session, Sequence[Result]]],
    top: Path,
    pub: Publication,
    labels: str,
    reviewers: str,
    dry_run: bool,
    err: Console,
    guard_files: Mapping[Path, bytes] | None = None,
) -> dict[str, object] | None:
    """One branch (and pull request) for the repository at `top`: each module's verified rewrites
    as its own commits, checked in each module's context in the branch's tree.

    Returns what was made, for the JSON report (a campaign publishes from it): the branch's name,
    commits, checks, and the pull request's title, body and URL; None when nothing was made.
    """
    verified = [r for _, results in runs for r in results if isinstance(r, Verified)]
    if not verified:
        err.print("nothing verified: no branch made")
        return None
    session = runs[0][0]
    go_line = session.packages[0].go_line
    command = _reproduce()
    groups: list[CommitGroup] = []
    for here, results in runs:
        mine = [r for r in results if isinstance(r, Verified)]

        def contents(
            proposals: Sequence[Proposal], here: Session = here, mine: list[Verified] = mine
        ) -> dict[Path, bytes]:
            chosen = [r for r in mine if r.proposal in proposals]
            return {path: new for path, (_, new) in final_contents(here, chosen).items()}

        if mine:
            groups += group_results(mine, contents, pub.commit_per, session.tc.version, command)
    if guard_files:
        groups.append(guard_commit(guard_files, session.tc.version, command))
    body = pull_request_body(verified, session.tc.version, go_line, command, top)
    title = f"goescape: fewer heap allocations ({len(verified)} rewrites)"
    if dry_run:
        out = _console()
        out.print(f"branch {pub.branch} ({len(groups)} commits)", markup=False)
        for group in groups:
            out.rule()
            out.print(group.message(), markup=False, highlight=False)
        if pub.pr:
            out.rule("pull request")
            out.print(title, markup=False)
            out.print(body, markup=False, highlight=False)
        return None
    with err.status(f"building and testing branch {pub.branch}", spinner="dots"):
        changed = [here for here, results in runs if any(isinstance(r, Verified) for r in results)]
        checks = [go_check(here.tc, here.cwd, named=len(runs) > 1) for here in changed]
        branch = create_branch(
            top, pub.branch, groups, force=pub.force, check=lambda tree: [c for check in checks for c in check(tree)]
        )
    err.print(
        f"branch {branch.name}: {len(branch.commits)} commit(s) on {branch.base[:12]}; passed: {', '.join(branch.checks)}"
    )
    made: dict[str, object] = {
        "name": branch.name,
        "base": branch.base,
        "commits": len(branch.commits),
        "checks": list(branch.checks),
        "title": title,
        "body": body,
        "pull_request": None,
    }
    if not pub.pr:
        return made
    url = remote_url(top, pub.remote)
    host, repo = parse_remote(url)
    kind = pub.forge or guess_kind(pub.base_url or host)
    token = os.environ.get(TOKENS[kind], "")
    forge_client = forge_for(kind, pub.base_url or host, repo, token)  # refuses a missing token before pushing
    push(top, pub.remote, branch.name, url=authenticated(url, kind, token))
    spec = Spec(
        title,
        body,
        branch.name,
        pub.base or current_branch(top),
        pub.draft,
        tuple(x for x in labels.split(",") if x),
        tuple(x for x in reviewers.split(",") if x),
    )
    with err.status(f"publishing to {kind}", spinner="dots"):
        published = forge_client.publish(spec)
    verb = "opened" if published.created else "updated"
    err.print(f"{verb} pull request #{published.number} {published.url}")
    return made | {"pull_request": {"number": published.number, "url": published.url, "created": published.created}}


def _review(
    session: Session, results: Sequence[Result], level: str, measure: bool, cwd: Path, test_flags: tuple[str, ...]
) -> tuple[Verified, ...]:
    """Ask about each verified rewrite; an edited one is verified again by a verifier kept open."""
    from goescape.engine.review import review

    verifier = verifier_for(session, level, measure=measure, test_flags=test_flags)
    try:

        def text(p: Proposal, path: Path | None = None) -> bytes:
            return render_file(session.tc, session.sources[path or p.path], [p])[0]

        def diff_of(p: Proposal) -> str:
            # Every file the proposal edits: errors-sentinel's shared sentinel edits several.
            paths = sorted(p.files | {path for path, _ in p.add_imports})
            return "".join(unified_diff(path, session.sources[path].data, text(p, path), cwd) for path in paths)

        chosen = review(
            [r for r in results if isinstance(r, Verified)],
            diff_of=diff_of,
            proposed_text=text,
            reverify=lambda p: verifier.verify([p])[0],
            cwd=cwd,
        )
        return chosen.accepted
    finally:
        verifier.close()
        session.oracle.close()


@cli.command("calibrate")
@click.option("--codemod", "codemod_names", multiple=True, help="Calibrate only this codemod (repeatable).")
@click.option("--force", is_flag=True, help="Measure again even when the cache has this toolchain's figures.")
@click.option("--go", "go", envvar="GOESCAPE_GO", help="The go binary to use (or GOESCAPE_GO).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def calibrate_cmd(codemod_names: tuple[str, ...], force: bool, go: str | None, as_json: bool) -> None:
    """Measure each codemod's before/after benchmark pair on this toolchain (cached per go version).

    \b
    Example:
        goescape calibrate
        goescape calibrate --codemod sprint --force
    """
    tc = find_toolchain(go)
    codemods = _select(codemod_names) if codemod_names else load_codemods()
    with _console(stderr=True).status("calibrating", spinner="dots") as status:
        rows = calibrate(tc, codemods, force=force, progress=lambda msg: status.update(msg))
    off = unprofitable(rows)
    if as_json:
        click.echo(json.dumps({"go_version": tc.version, "patterns": report.calibration_json(rows, off)}, indent=2))
        return
    report.calibration_table(_console(), rows, off, tc.version)


@cli.command("config", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("args", nargs=-1, type=click.UNPROCESSED, metavar="[scan|fix|check] [FLAGS]...")
def config_cmd(args: tuple[str, ...]) -> None:
    """Print the settings a command (fix unless named) would run with, and where each came from:
    a flag, goescape.toml, or the default.

    goescape.toml sits beside go.mod; flags given after the command override it, as they would in the run.

    \b
    Example:
        goescape config
        goescape config -C examples
        goescape config check -C examples --format sarif=escapes.sarif
    """
    command, rest = (args[0], args[1:]) if args and args[0] in ("scan", "fix", "check") else ("fix", args)
    args = tuple(rest)
    target = cli.commands[command]
    with target.make_context(command, list(args), parent=click.get_current_context()) as ctx:
        folder = Path(ctx.params.get("directory") or ".").resolve()
        if not folder.is_dir():
            raise GoescapeError("no such directory", path=folder, hint="give -C an existing folder")
        settings = effective(ctx, load_config(folder))
    out = _console()
    where = str(settings.config) if settings.config else "none (no goescape.toml beside go.mod)"
    out.print(f"goescape {command}: config file {where}", markup=False, highlight=False)
    table = Table(show_header=True)
    for col in ("setting", "value", "from"):
        table.add_column(col, overflow="fold")
    for key, value, source in setting_rows(settings):
        table.add_row(key, value, source)
    out.print(table)


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--markdown", is_flag=True, help="Print the README's codemod table.")
def list_cmd(as_json: bool, markdown: bool) -> None:
    """List the codemods with the first line of each one's docstring.

    \b
    Example:
        goescape list
        goescape list --markdown
    """
    codemods = load_codemods()
    if markdown:
        click.echo(report.codemod_markdown(codemods))
        return
    rows, version = [], ""
    try:
        tc = find_toolchain(None)
        rows, version = calibrate(tc, codemods, cached_only=True), tc.version
    except GoescapeError:
        pass  # listing needs no toolchain; without one there are just no figures
    off = unprofitable(rows)
    if as_json:
        listed = [
            {
                "name": c.name,
                "default": c.default_on,
                "summary": c.summary,
                "equivalence": {p.name: p.describe() for p in c.patterns.values()},
                "patterns": report.calibration_json([r for r in rows if r.codemod == c.name], off),
            }
            for c in codemods
        ]
        click.echo(json.dumps({"go_version": version, "codemods": listed}, indent=2))
        return
    report.list_table(_console(), codemods, rows, off, version)


cli.add_command(campaign_group)


def main(argv: Sequence[str] | None = None) -> int:
    """Run goescape; returns the exit status (0 fine, 1 changes found with --check, 2 errors)."""
    args = list(argv) if argv is not None else sys.argv[1:]
    _INVOCATION[:] = args
    try:
        cli.main(args=args, prog_name="goescape", standalone_mode=False)
    except GoescapeError as exc:
        click.echo(f"goescape: {exc.line()}", err=True)
        return 2
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo(STOPPED, err=True)
        return 130
    except click.exceptions.ClickException as exc:
        exc.show()
        return 2
    except SystemExit as exc:
        return int(exc.code or 0) if isinstance(exc.code, int) or exc.code is None else 2
    except Exception as exc:  # a bug: one line and exit 2 (never 1, which `check` and `--check` mean as a finding)
        if os.environ.get("GOESCAPE_DEBUG"):
            raise
        click.echo(f"goescape: internal error: {type(exc).__name__}: {exc} (GOESCAPE_DEBUG=1 shows where)", err=True)
        return 2
    return 0
