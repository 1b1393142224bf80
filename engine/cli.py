"""The command line: a thin boundary that parses flags into a request, runs it, and hands the report to delivery."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from goescape.engine import STOPPED, __version__, flags, sigterm_as_interrupt, stop_status
from goescape.engine.errors import GoescapeError
from goescape.engine.request import check_request, fix_request, scan_request


class _Commands(click.Group):
    """The top-level group; `campaign` (Dask, SQLite, forges) is imported only when it is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), "campaign"])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name == "campaign":
            from goescape.engine.campaign_cli import campaign_group

            return campaign_group
        return super().get_command(ctx, name)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="goescape")
def cli() -> None:
    """Remove the heap allocations Go's escape analysis reports, each rewrite proven by the compiler.

    \b
    Examples, one per command (`goescape COMMAND --help` shows more):
        goescape scan ./...
        goescape fix ./...
        goescape check ./... --base merge-base:origin/main
        goescape calibrate
        goescape list
        goescape config
        goescape campaign run repos.txt --dir campaign --workers 2
    """


@cli.command("scan")
@flags.common
@flags.profiled
@flags.scan_options
@flags.formatted
@flags.excluding
@flags.configured
def scan_cmd(**given: Any) -> None:
    """Show what escapes to the heap, why, and which codemod can fix it.

    \b
    Example:
        goescape scan ./...
        goescape scan --json -C examples ./... > escapes.json
        goescape scan ./... --format sarif=escapes.sarif --format text
        goescape scan --all-modules
    """
    from goescape.engine.console import Progress
    from goescape.engine.delivery import deliver_scan
    from goescape.engine.runner import run_scan

    request = scan_request(given)
    with Progress() as progress:  # on stderr: stdout is the report's alone
        scans = run_scan(request, progress=progress)
    deliver_scan(request, scans)


@cli.command("check")
@flags.common
@flags.profiled
@flags.check_options
@flags.formatted
@flags.excluding
@flags.configured
def check_cmd(**given: Any) -> None:
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
    from goescape.engine.checking import run_check

    if run_check(check_request(given)):
        raise SystemExit(1)


@cli.command("fix")
@flags.common
@flags.profiled
@flags.fix_options
@flags.formatted
@flags.excluding
@flags.configured
def fix_cmd(**given: Any) -> None:
    """Print a unified diff of the verified rewrites; --write applies them.

    \b
    Example:
        goescape fix ./...
        goescape fix ./... --codemod return-value --write
        goescape fix -C examples ./... | git apply
        goescape fix ./... --interactive
        goescape fix ./... --branch goescape/allocs --commit-per package
        GITHUB_TOKEN=... goescape fix ./... --pr --labels performance --draft
        goescape fix ./... --pr --dry-run
        goescape fix ./... --write --guard
    """
    from goescape.engine.console import Progress
    from goescape.engine.delivery import deliver_fix
    from goescape.engine.results import refuse_failing_baseline
    from goescape.engine.runner import run_fix

    argv = (click.get_current_context().find_root().obj or {}).get("argv", sys.argv[1:])
    request = fix_request(given, argv)
    if request.interactive:
        from goescape.engine.review import ensure_terminal

        ensure_terminal()  # refuse before minutes of verification, not after
    if request.publication is not None:
        from goescape.engine.publishing import preflight

        preflight(request)  # likewise a branch or pull request that could not be made: before any go command
    with Progress() as progress:
        tc, runs = run_fix(request, progress=progress, announce=progress.print)
    refuse_failing_baseline(r for run in runs for r in run.results)  # exit 2: nothing could be judged
    if deliver_fix(request, tc, runs):
        raise SystemExit(1)


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
    from goescape.engine import json_report, report
    from goescape.engine.calibration import calibrate, unprofitable
    from goescape.engine.codemod import load_codemods
    from goescape.engine.console import Progress, console
    from goescape.engine.runner import select
    from goescape.engine.toolchain import find_toolchain

    tc = find_toolchain(go)
    codemods = select(codemod_names) if codemod_names else load_codemods()
    with Progress() as progress:
        rows = calibrate(tc, codemods, force=force, progress=progress)
    off = unprofitable(rows)
    if as_json:
        click.echo(
            json.dumps({"go_version": tc.version, "patterns": json_report.calibration_json(rows, off)}, indent=2)
        )
        return
    report.calibration_table(console(), rows, off, tc.version)


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
    from goescape.engine.config import load_config
    from goescape.engine.delivery import settings_table
    from goescape.engine.settings import effective

    command, rest = (args[0], args[1:]) if args and args[0] in ("scan", "fix", "check") else ("fix", args)
    args = tuple(rest)
    target = cli.commands[command]
    with target.make_context(command, list(args), parent=click.get_current_context()) as ctx:
        folder = Path(ctx.params.get("directory") or ".").resolve()
        if not folder.is_dir():
            raise GoescapeError("no such directory", path=folder, hint="give -C an existing folder")
        settings = effective(ctx, load_config(folder))
    settings_table(command, settings)


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
    from goescape.engine import readme, report
    from goescape.engine.calibration import calibrate, unprofitable
    from goescape.engine.codemod import load_codemods
    from goescape.engine.console import console
    from goescape.engine.delivery import listing_json
    from goescape.engine.toolchain import find_toolchain

    codemods = load_codemods()
    if markdown:
        click.echo(readme.codemod_markdown(codemods))
        return
    rows, version = [], ""
    try:
        tc = find_toolchain(None)
        rows, version = calibrate(tc, codemods, cached_only=True), tc.version
    except GoescapeError:
        pass  # listing needs no toolchain; without one there are just no figures
    off = unprofitable(rows)
    if as_json:
        click.echo(json.dumps(listing_json(codemods, rows, off, version), indent=2))
        return
    report.list_table(console(), codemods, rows, off, version)


def main(argv: Sequence[str] | None = None) -> int:
    """Run goescape; returns the exit status (0 fine, 1 changes found with --check, 2 errors; 130
    stopped by Ctrl-C, 143 by SIGTERM, which stops it the same way: temporaries removed, no file changed)."""
    args = list(argv) if argv is not None else sys.argv[1:]
    try:
        with sigterm_as_interrupt():
            cli.main(args=args, prog_name="goescape", standalone_mode=False, obj={"argv": args})
    except GoescapeError as exc:
        click.echo(f"goescape: {exc.line()}", err=True)
        return 2
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo(STOPPED, err=True)
        return stop_status()
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
