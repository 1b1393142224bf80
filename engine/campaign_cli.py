"""`goescape campaign`: run, resume, status, report and close a campaign over many repositories."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from goescape.engine.errors import GoescapeError

if TYPE_CHECKING:
    from goescape.engine.pools import Pool

F = TypeVar("F", bound=Callable[..., object])

_DIR = click.option(
    "--dir",
    "folder",
    required=True,
    type=click.Path(file_okay=False),
    help="The campaign folder: its ledger (campaign.db), clones and reports.",
)


def _pooled(fn: F) -> F:
    fn = click.option(
        "--workers",
        type=click.IntRange(min=1, max=64),
        help="Local worker processes (a process pool; nothing to start). Default: 1, or what the campaign last used.",
    )(fn)
    fn = click.option(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="Run on this Dask distributed cluster instead (pip install 'goescape[distributed]'); "
        "--dir must then be at the same path on every worker.",
    )(fn)
    fn = click.option(
        "--canary", type=click.IntRange(min=1), metavar="N", help="Stop after N repositories, for a look."
    )(fn)
    fn = click.option(
        "--max-prs-per-hour",
        type=click.IntRange(min=1),
        metavar="N",
        help="Open or update at most N pull requests in any hour; the campaign waits for the next slot.",
    )(fn)
    return fn


def _say(text: str) -> None:
    click.echo(text, err=True)


def _pool(workers: int | None, scheduler: str | None) -> Pool:
    """The pool, made before anything is written: a scheduler that cannot be used fails first."""
    import re

    from goescape.engine import pools

    if scheduler and not re.fullmatch(r"(tcp|tls)://[^\s:/]+:\d{1,5}", scheduler):
        raise GoescapeError("not a scheduler address", path=scheduler, hint="give tcp://HOST:PORT")

    return pools.dask_pool(scheduler) if scheduler else pools.local_pool(workers or 1)


def _resume(
    folder: Path,
    pool: Pool,
    canary: int | None,
    max_prs: int | None,
    retry_failed: bool = False,
    workers: int | None = None,
) -> None:
    from goescape.engine import campaign

    try:
        summary = campaign.resume(folder, pool, _say, canary, max_prs, retry_failed, workers)
    except KeyboardInterrupt:
        _say(f"goescape: stopped; the ledger keeps every stage that ended: goescape campaign resume --dir {folder}")
        raise SystemExit(130) from None
    again = f"goescape campaign resume --dir {folder}"
    _say(f"{summary.finished} finished in this run; {summary.left} left; {summary.held} pull request(s) held back")
    if summary.left and canary:
        _say(f"canary: look at them (goescape campaign status --dir {folder}), then: {again}")


@click.group("campaign")
def campaign_group() -> None:
    """Fix many repositories: one branch and one pull request each, on local workers or Dask.

    \b
    Example:
        goescape campaign run repos.txt --dir campaign --workers 2
        goescape campaign run repos.txt --dir campaign --pr --max-prs-per-hour 5 --canary 3
        goescape campaign resume --dir campaign
        goescape campaign status --dir campaign
    """


@campaign_group.command("run")
@click.argument("spec", required=False, type=click.Path(dir_okay=False))
@_DIR
@_pooled
@click.option("--org", metavar="NAME", help="Every repository of this forge organisation or group (with --base-url).")
@click.option("--forge", type=click.Choice(["gitea", "github", "gitlab"]), help="The forge (default: from the URL).")
@click.option("--base-url", help="The forge's URL, e.g. https://gitea.example.com (default: each repository's host).")
@click.option("--pr", is_flag=True, help="Push each branch and open (or update) its pull request.")
@click.option("--branch", default="goescape/campaign", show_default=True, help="The branch made in each repository.")
@click.option("--draft", is_flag=True, help="Open the pull requests as drafts.")
@click.option("--labels", default="", help="Comma-separated labels for the pull requests.")
@click.option("--reviewers", default="", help="Comma-separated reviewers to request.")
@click.option("--codemod", "codemods", multiple=True, help="Run only this codemod (repeatable).")
@click.option("--all-patterns", is_flag=True, help="Also try patterns calibrated to save nothing on this toolchain.")
@click.option("--verify", "level", type=click.Choice(["build", "vet", "test"]), default="test", show_default=True)
@click.option("--short", is_flag=True, help="Run the code's tests with -short.")
@click.option(
    "--gocache",
    type=click.Path(file_okay=False),
    help="One GOCACHE shared by every worker (one machine); default: each worker its own under DIR/gocache.",
)
@click.option("--fresh", is_flag=True, help="Start the campaign in DIR again from its first stage.")
def run_cmd(
    spec: str | None,
    folder: str,
    workers: int | None,
    scheduler: str | None,
    canary: int | None,
    max_prs_per_hour: int | None,
    org: str | None,
    forge: str | None,
    base_url: str | None,
    pr: bool,
    branch: str,
    draft: bool,
    labels: str,
    reviewers: str,
    codemods: tuple[str, ...],
    all_patterns: bool,
    level: str,
    short: bool,
    gocache: str | None,
    fresh: bool,
) -> None:
    """Clone each repository of SPEC (one `URL [REF]` per line, `#` comments) and fix it with full
    verification, each stage recorded in DIR/campaign.db.

    \b
    Example:
        goescape campaign run repos.txt --dir campaign --workers 2
        GITEA_TOKEN=... goescape campaign run --org platform --base-url https://gitea.example.com --dir c --pr
        goescape campaign run repos.txt --dir campaign --scheduler tcp://10.0.0.5:8786 --pr
    """
    from goescape.engine import campaign
    from goescape.engine.campaign_settings import Settings, _settings_that_work
    from goescape.engine.campaign_spec import org_entries, read_spec

    if bool(spec) == bool(org):
        raise GoescapeError("give a SPEC file or --org NAME (one of the two)", hint="goescape campaign run --help")
    entries = org_entries(org, forge, base_url) if org else read_spec(Path(spec or ""))
    _settings_that_work(codemods, branch, gocache)
    fix_args = [f"--codemod={c}" for c in codemods] + [f"--verify={level}"]
    fix_args += ["--all-patterns"] * all_patterns + ["--short"] * short
    settings = Settings(
        fix_args=tuple(fix_args),
        branch=branch,
        pr=pr,
        forge=forge,
        base_url=base_url,
        draft=draft,
        labels=tuple(x for x in labels.split(",") if x),
        reviewers=tuple(x for x in reviewers.split(",") if x),
        gocache=str(Path(gocache).resolve()) if gocache else None,
        max_prs_per_hour=max_prs_per_hour,
        workers=workers or 1,
    )
    where = Path(folder).resolve()
    pool = _pool(workers, scheduler)
    try:
        campaign.start(where, entries, settings, fresh)
    except KeyboardInterrupt:
        pool.close()
        _say(f"goescape: stopped before any repository started: goescape campaign resume --dir {where}")
        raise SystemExit(130) from None
    except BaseException:
        pool.close()
        raise
    _say(f"campaign of {len(entries)} repositor{'y' if len(entries) == 1 else 'ies'} in {where}")
    _resume(where, pool, canary, None)


@campaign_group.command("resume")
@_DIR
@_pooled
@click.option("--retry-failed", is_flag=True, help="Also run again the failed repositories' failed stage.")
def resume_cmd(
    folder: str,
    workers: int | None,
    scheduler: str | None,
    canary: int | None,
    max_prs_per_hour: int | None,
    retry_failed: bool,
) -> None:
    """Go on with a campaign: no stage that ended runs again (a failed publish is tried again).

    \b
    Example:
        goescape campaign resume --dir campaign --workers 2
        goescape campaign resume --dir campaign --retry-failed
    """
    from goescape.engine import campaign

    where = Path(folder).resolve()
    workers = workers or campaign.settings_of(where).workers
    _resume(where, _pool(workers, scheduler), canary, max_prs_per_hour, retry_failed, workers)


@campaign_group.command("status")
@_DIR
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status_cmd(folder: str, as_json: bool) -> None:
    """A table of every repository: queued, running, verified N, rejected N, pull request, failed and why.

    \b
    Example:
        goescape campaign status --dir campaign
    """
    from goescape.engine import campaign, campaign_report
    from goescape.engine.console import Console

    where = Path(folder).resolve()
    repos = campaign.read(where, reports=False)
    if as_json:
        click.echo(campaign.status_json(repos))
        return
    # Piped (CI logs), a table wider than the default 80 columns keeps names and URLs whole.
    console = Console() if sys.stdout.isatty() else Console(width=200)
    campaign_report.status_table(console, repos, interrupted=not campaign.coordinated(where))


@campaign_group.command("report")
@_DIR
def report_cmd(folder: str) -> None:
    """Write DIR/report.md and DIR/report.html: totals, per-repository evidence, per-codemod yield.

    \b
    Example:
        goescape campaign report --dir campaign
    """
    from goescape.engine import campaign, campaign_report
    from goescape.engine.destinations import write_atomic

    where = Path(folder).resolve()
    repos = campaign.read(where)
    versions = [
        str(report["go_version"])
        for r in repos
        for report in (r.report or {}).values()
        if isinstance(report, dict) and report.get("go_version")
    ]
    text = campaign_report.markdown(repos, versions)
    write_atomic(where / "report.md", text)
    write_atomic(where / "report.html", campaign_report.to_html(text))
    _say(f"wrote {where / 'report.md'} and {where / 'report.html'}")


@campaign_group.command("close")
@_DIR
def close_cmd(folder: str) -> None:
    """Close every pull request the campaign opened that is still open.

    \b
    Example:
        GITEA_TOKEN=... goescape campaign close --dir campaign
    """
    from goescape.engine import campaign

    closed = campaign.close_all(Path(folder).resolve(), _say)
    _say(f"closed {closed} pull request(s)")
