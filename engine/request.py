"""Requests: what a command was asked to do, as values built from its parsed flags; the runner takes them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from goescape.engine.codemod import Options
from goescape.engine.destinations import Destination, parse_formats
from goescape.engine.errors import GoescapeError
from goescape.engine.results import Level

GROUPINGS = ("codemod", "package", "rewrite")  # what --commit-per makes one commit of


@dataclass(frozen=True)
class Target:
    """What to compile and how: the packages, the toolchain, and what to leave out."""

    cwd: Path
    patterns: tuple[str, ...] = ()
    go: str | None = None
    overlay: str | None = None  # a go overlay JSON file the user's unsaved buffers come through
    pgo: str | None = None  # a profile file, relative to `cwd`; None: the main package's default.pgo
    exclude: tuple[str, ...] = ()  # globs relative to the module root
    all_modules: bool = False  # every module below `cwd` and in its go.work, each on its own
    cache: bool = True  # reuse goescape's own work for unchanged inputs (the work cache)
    profile: str | None = None  # a heap or CPU profile to rank by, relative to `cwd`
    min_share: float = 0.0  # with `profile`: percent of the profile below which escapes are dropped


@dataclass(frozen=True)
class ScanRequest:
    target: Target
    destinations: tuple[Destination, ...]
    include_generated: bool = False


@dataclass(frozen=True)
class CheckRequest:
    target: Target
    destinations: tuple[Destination, ...]
    base: str | None = None  # a revision, or merge-base:BRANCH
    baseline: str | None = None  # a file --write-baseline made
    write_baseline: str | None = None


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
    labels: tuple[str, ...]
    reviewers: tuple[str, ...]
    dry_run: bool
    command: str  # the goescape command that reproduces these rewrites, for commit messages


@dataclass(frozen=True)
class FixRequest:
    target: Target
    destinations: tuple[Destination, ...]
    codemods: tuple[str, ...] = ()  # names; empty: the codemods that are on by default
    options: Options = field(default_factory=Options)
    level: Level = Level.TEST
    measure: bool = True  # measure allocs/op with the code's own tests and benchmarks
    test_flags: tuple[str, ...] = ()  # ("-short",) with --short
    all_patterns: bool = False  # also patterns calibrated to save nothing on this toolchain
    guard: bool = False  # add a test per rewrite that fails if the allocation comes back
    bench: str | None = None  # the benchmarks to run before and after, a -bench regex
    bench_count: int = 6
    interactive: bool = False
    write: bool = False
    write_overlay: Path | None = None  # a folder for the rewritten files as another overlay
    check: bool = False  # exit 1 when verified rewrites exist
    colour: bool | None = None  # colour the diff; None: on a terminal
    publication: Publication | None = None

    @property
    def changes_files(self) -> bool:
        """Whether the request changes the files on disk (which an overlay would hide)."""
        return self.write or self.interactive or self.publication is not None


def destinations(flags: Mapping[str, Any]) -> tuple[Destination, ...]:
    """--format's destinations; --json is --format json."""
    cwd = Path(flags["directory"]).resolve()
    return parse_formats([*flags["format_specs"], *(["json"] if flags["as_json"] else [])], cwd)


def target(flags: Mapping[str, Any]) -> Target:
    """The shared part of every request: the packages, the toolchain and what to leave out."""
    return Target(
        cwd=Path(flags["directory"]).resolve(),
        patterns=tuple(flags["patterns"]),
        go=flags["go"],
        overlay=flags["overlay"],
        pgo=flags["pgo"],
        exclude=tuple(flags["exclude"]),
        all_modules=bool(flags.get("all_modules")),
        cache=not flags["no_cache"],
        profile=flags.get("profile_path"),
        min_share=float(flags.get("min_share") or 0.0),
    )


def scan_request(flags: Mapping[str, Any]) -> ScanRequest:
    return ScanRequest(target(flags), destinations(flags), include_generated=flags["include_generated"])


def check_request(flags: Mapping[str, Any]) -> CheckRequest:
    return CheckRequest(
        target(flags), destinations(flags), flags["base"], flags["baseline"], flags["write_baseline_path"]
    )


def fix_request(flags: Mapping[str, Any], argv: Sequence[str]) -> FixRequest:
    """The fix request; `argv` (this run's arguments) makes the command a branch's commits reproduce."""
    publication = None
    if flags["branch_name"] is not None and not flags["branch_name"].strip():
        # An unset CI variable (--branch "$BRANCH") must not turn a branch run into a printed diff.
        raise GoescapeError("--branch is empty", hint="pass a branch name, or leave the flag out for a diff")
    if flags["branch_name"] or flags["pr"]:
        from goescape.engine.publishing import reproduce

        publication = Publication(
            branch=flags["branch_name"] or "goescape/fix",
            commit_per=flags["commit_per"],
            force=flags["force"] or flags["pr"],
            pr=flags["pr"],
            forge=flags["forge"],
            base_url=flags["base_url"],
            remote=flags["remote"],
            base=flags["base_branch"],
            draft=flags["draft"],
            labels=tuple(x for x in flags["labels"].split(",") if x),
            reviewers=tuple(x for x in flags["reviewers"].split(",") if x),
            dry_run=flags["dry_run"],
            command=reproduce(argv, target(flags).cwd),
        )
    extra = {"allow_overcap": "true"} if flags["allow_overcap"] else {}
    overlay_dir = flags["write_overlay_dir"]
    return FixRequest(
        target(flags),
        destinations(flags),
        codemods=tuple(flags["codemod_names"]),
        options=Options(size_limit=flags["size_limit"], allow_api_change=flags["allow_api_change"], extra=extra),
        level=Level(flags["level"]),
        measure=flags["measure"],
        test_flags=("-short",) if flags["short"] else (),
        all_patterns=flags["all_patterns"],
        guard=flags["guard"],
        bench=flags["bench_regex"],
        bench_count=flags["bench_count"],
        interactive=flags["interactive"],
        write=flags["write"],
        write_overlay=Path(overlay_dir).resolve() if overlay_dir else None,
        check=flags["check"],
        colour=flags["use_colour"],
        publication=publication,
    )
