"""Flags: the command line's options, with goescape.toml under them (request.py turns them into requests)."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from goescape.engine.config import load_config
from goescape.engine.errors import GoescapeError
from goescape.engine.forges import TOKENS
from goescape.engine.packages import resolve_patterns
from goescape.engine.request import GROUPINGS
from goescape.engine.results import LEVELS
from goescape.engine.settings import effective

F = TypeVar("F", bound=Callable[..., Any])


def common(fn: F) -> F:
    fn = click.argument("patterns", nargs=-1)(fn)
    fn = click.option("-C", "directory", type=click.Path(file_okay=False), default=".", help="Run as if in DIR.")(fn)
    fn = click.option("--go", "go", envvar="GOESCAPE_GO", help="The go binary to use (or GOESCAPE_GO).")(fn)
    fn = click.option("--json", "as_json", is_flag=True, help="Print a JSON report for machines.")(fn)
    fn = click.option(
        "--no-cache", "no_cache", is_flag=True, help="Recompute goescape's own work instead of reusing it."
    )(fn)
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


def configured(fn: F) -> F:
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


def excluding(fn: F) -> F:
    return click.option(
        "--exclude",
        "exclude",
        multiple=True,
        metavar="GLOB",
        help="Leave out files matching GLOB, relative to the module root (repeatable; ** spans folders).",
    )(fn)


def formatted(fn: F) -> F:
    return click.option(
        "--format",
        "format_specs",
        multiple=True,
        metavar="FMT[=FILE]",
        help="text, json, sarif or github, to stdout or =FILE; repeatable (--format sarif=escapes.sarif --format text).",
    )(fn)


def profiled(fn: F) -> F:
    fn = click.option(
        "--min-share", type=float, default=0.0, metavar="PCT", help="With --profile: drop what accounts for less."
    )(fn)
    fn = click.option(
        "--profile", "profile_path", type=click.Path(dir_okay=False), help="A heap or CPU profile to rank by."
    )(fn)
    return fn


_FIX_OPTIONS: list[Callable[[F], F]] = [
    click.option("--write", is_flag=True, help="Write the verified rewrites into the files."),
    click.option(
        "--write-overlay",
        "write_overlay_dir",
        type=click.Path(file_okay=False),
        help="Write the rewritten files and their overlay.json into DIR (the tree is untouched).",
    ),
    click.option("--check", is_flag=True, help="Exit 1 when verified rewrites exist."),
    click.option("--codemod", "codemod_names", multiple=True, help="Run only this codemod (repeatable)."),
    click.option(
        "--verify", "level", type=click.Choice(LEVELS), default="test", show_default=True, help="How far to verify."
    ),
    click.option(
        "--size-limit", type=int, default=128, show_default=True, help="return-value: largest struct, in bytes."
    ),
    click.option("--allow-api-change", is_flag=True, help="Also change exported functions' signatures."),
    click.option("--colour/--no-colour", "use_colour", default=None, help="Colour the diff (default: on a terminal)."),
    click.option(
        "--measure/--no-measure",
        default=True,
        show_default=True,
        help="Measure allocations with the code's own tests and benchmarks.",
    ),
    click.option("--short", is_flag=True, help="Run the code's tests with -short (go test's flag for quick runs)."),
    click.option(
        "--guard",
        is_flag=True,
        help="Add a test beside each measured rewrite that fails when its path allocates more again (AllocsPerRun).",
    ),
    click.option(
        "--all-patterns", is_flag=True, help="Also try patterns calibrated to save nothing on this toolchain."
    ),
    click.option("--allow-overcap", is_flag=True, help="prealloc: also conditional appends (may over-allocate)."),
    click.option(
        "--interactive", "-i", is_flag=True, help="Review each verified rewrite; the accepted ones are written."
    ),
    click.option(
        "--all-modules",
        is_flag=True,
        help="Every module below -C DIR and in its go.work, each verified in its own module; reports group by module.",
    ),
    click.option(
        "--branch",
        "branch_name",
        metavar="NAME",
        help="Commit the rewrites on a new branch; the checkout is untouched.",
    ),
    click.option(
        "--commit-per", type=click.Choice(GROUPINGS), default="codemod", show_default=True, help="One commit per ..."
    ),
    click.option("--force", is_flag=True, help="Replace an existing branch of that name."),
    click.option("--pr", is_flag=True, help="Push the branch and open (or update) a pull request."),
    click.option(
        "--forge",
        type=click.Choice(sorted(TOKENS)),
        help="The forge (default: from the host of --base-url or the remote, when its name says github, gitlab, gitea, forgejo or codeberg; others need --forge).",
    ),
    click.option("--base-url", help="The forge's URL, e.g. https://gitlab.example.com (default: from the remote)."),
    click.option("--remote", default="origin", show_default=True, help="The remote to push to."),
    click.option("--base", "base_branch", help="The branch the pull request targets (default: the current one)."),
    click.option("--draft", is_flag=True, help="Open the pull request as a draft."),
    click.option("--labels", default="", help="Comma-separated labels for the pull request."),
    click.option("--reviewers", default="", help="Comma-separated reviewers to request."),
    click.option(
        "--dry-run",
        is_flag=True,
        help="Print the branch and its commits, and with --pr the remote, forge, base, draft, labels, reviewers, "
        "title and body; create and contact nothing (no token needed).",
    ),
    click.option(
        "--bench",
        "bench_regex",
        metavar="REGEX",
        help="Run the changed packages' matching benchmarks before and after.",
    ),
    click.option(
        "--count",
        "bench_count",
        type=click.IntRange(min=6),
        default=6,
        show_default=True,
        help="Runs per side for --bench.",
    ),
]


_SCAN_OPTIONS: list[Callable[[F], F]] = [
    click.option("--include-generated", is_flag=True, help="Also report generated files, vendor/ and testdata/."),
    click.option(
        "--all-modules",
        is_flag=True,
        help="Every module below -C DIR and in its go.work, each compiled in its own module; reports group by module.",
    ),
]
_CHECK_OPTIONS: list[Callable[[F], F]] = [
    click.option(
        "--base", "base", metavar="REV", help="Report escapes new since REV (a revision, or merge-base:BRANCH)."
    ),
    click.option(
        "--baseline",
        type=click.Path(dir_okay=False),
        help="Report escapes not recorded in FILE (from --write-baseline).",
    ),
    click.option(
        "--write-baseline",
        "write_baseline_path",
        type=click.Path(dir_okay=False),
        help="Record the work tree's escapes in FILE for later --baseline checks, and exit 0.",
    ),
]


def _applied(options: Sequence[Callable[[F], F]], fn: F) -> F:
    for option in reversed(options):
        fn = option(fn)
    return fn


def scan_options(fn: F) -> F:
    """`scan`'s own options."""
    return _applied(_SCAN_OPTIONS, fn)


def check_options(fn: F) -> F:
    """`check`'s own options: the base revision or baseline file to compare with."""
    return _applied(_CHECK_OPTIONS, fn)


def fix_options(fn: F) -> F:
    """`fix`'s own options, below the shared ones."""
    return _applied(_FIX_OPTIONS, fn)
