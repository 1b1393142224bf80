"""Campaigns: `goescape fix` over many repositories, one branch and one pull request each.

This module starts, resumes and closes a campaign in its folder. The coordinator reads the SPEC or a
forge organisation (campaign_spec.py), keeps the ledger, hands each repository's stages to a pool
(pools.py; a stage itself is workers.py) and publishes the pull requests itself (coordinator.py), so
`--max-prs-per-hour` holds across workers. Stages per repository, in order: verify (clone, build,
vet, test; no figures), measure (allocation figures and the branch, on `bench` workers), publish.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from goescape.engine.campaign_settings import Settings
from goescape.engine.campaign_spec import Entry, names
from goescape.engine.coordinator import Coordinator
from goescape.engine.errors import GoescapeError
from goescape.engine.forges import TOKENS, forge_for
from goescape.engine.ledger import Ledger, Repository, Stage, Status
from goescape.engine.pools import Pool
from goescape.engine.workers import stop_leftovers


@dataclass(frozen=True)
class Summary:
    finished: int  # in this run
    left: int  # queued or running (after an interrupt or --canary)
    held: int  # pull requests waiting for --max-prs-per-hour


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = (folder / "campaign.lock").open("wb")
    except OSError as exc:
        raise GoescapeError(
            f"cannot use this folder: {exc.strerror}", path=folder, hint="pick a --dir you can write"
        ) from exc
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise GoescapeError(
                "another goescape campaign is running in this folder", path=folder, hint="wait for it, or stop it"
            ) from exc
        yield


def coordinated(folder: Path) -> bool:
    """Whether a coordinator runs in `folder` now (it holds campaign.lock)."""
    try:
        with (folder / "campaign.lock").open("rb") as lock:
            fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Ctrl-C and SIGTERM ignored for the block (the clean-up after the first one)."""
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _terminated_as_interrupt() -> Iterator[None]:
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def start(folder: Path, entries: Sequence[Entry], settings: Settings, fresh: bool) -> None:
    """Write a new campaign's repositories and settings into DIR's ledger.

    Errors: GoescapeError when DIR already holds a campaign (unless `fresh`, which queues every
    repository again), or --pr cannot be honoured: a local path, a missing token, one repository twice.
    """
    if settings.pr:
        settings.check_forges([e.url for e in entries])
        seen: set[str] = set()
        for e in entries:
            key = e.url.removesuffix(".git").rstrip("/")
            if key in seen:
                raise GoescapeError(
                    "listed twice: both would push one branch and update one pull request",
                    path=e.url,
                    hint="keep one line per repository with --pr",
                )
            seen.add(key)
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder):
        ledger = Ledger(folder)
        try:
            if ledger.repositories(reports=False) and not fresh:
                raise GoescapeError(
                    "this folder already holds a campaign",
                    path=folder,
                    hint="goescape campaign resume --dir DIR, or campaign run --fresh to start it again",
                )
            if fresh:
                ledger.clear()
            ledger.add(names(entries))
            ledger.set_meta("settings", asdict(settings))
        finally:
            ledger.close()


def settings_of(folder: Path) -> Settings:
    """The settings `campaign run` stored. Errors: GoescapeError when DIR holds no campaign."""
    if not (folder / "campaign.db").is_file():
        raise GoescapeError(
            "no campaign here", path=folder, hint="start one with: goescape campaign run SPEC --dir DIR"
        )
    ledger = Ledger(folder)
    try:
        return Settings.from_json(ledger.meta("settings") or {})
    finally:
        ledger.close()


def read(folder: Path, reports: bool = True) -> list[Repository]:
    """The campaign's repositories as the ledger holds them (see Ledger.repositories).

    Errors: GoescapeError when DIR holds no campaign.
    """
    settings_of(folder)
    ledger = Ledger(folder)
    try:
        return ledger.repositories(reports=reports)
    finally:
        ledger.close()


def status_json(repos: Sequence[Repository]) -> str:
    """The repositories as `campaign status --json` prints them: one object each, under version 1."""
    rows = [
        {
            "name": r.name,
            "url": r.url,
            "ref": r.ref,
            "status": r.status.value,
            "stage": r.stage.value,
            "verified": r.verified,
            "rejected": r.rejected,
            "pull_request": r.pr_url or None,
            "branch": r.branch(),
            "clone": r.clone or None,
            "reason": r.reason or None,
            "worker_deaths": r.deaths,
        }
        for r in repos
    ]
    return json.dumps({"version": 1, "repositories": rows}, indent=2)


def resume(
    folder: Path,
    pool: Pool,
    say: Callable[[str], None],
    canary: int | None = None,
    max_prs_per_hour: int | None = None,
    retry_failed: bool = False,
    workers: int | None = None,
) -> Summary:
    """Run what the ledger says is left on `pool` (closed on return): held and failed pull requests
    first, then queued and interrupted stages in SPEC order (only the first `canary` repositories
    when given); then wait for the held pull requests as --max-prs-per-hour allows.

    Ctrl-C and SIGTERM stop the workers, remove the temporary files and leave the ledger as the
    last stage that ended left it.
    """
    try:
        settings = settings_of(folder)
        changed = {k: v for k, v in (("max_prs_per_hour", max_prs_per_hour), ("workers", workers)) if v is not None}
        settings = Settings.from_json(asdict(settings) | changed)
        lock = _locked(folder)
        lock.__enter__()
    except BaseException:
        pool.close()  # refused: another coordinator's work and files are left alone
        raise
    try:
        with _terminated_as_interrupt():
            ledger = Ledger(folder)
            try:
                ledger.set_meta("settings", asdict(settings))
                stop_leftovers(folder)  # of a coordinator killed before it could stop them
                ledger.requeue_interrupted()
                ledger.retry_failed(tuple(Stage) if retry_failed else (Stage.PUBLISH,))
                say(f"campaign in {folder}: {pool.describe}")
                coordinator = Coordinator(folder, ledger, settings, pool, say)
                coordinator.publish_held()
                todo = [r for r in ledger.repositories(reports=False) if r.status is Status.QUEUED]
                coordinator.run(todo[:canary] if canary else todo)
                coordinator.wait_for_held()
                repos = ledger.repositories(reports=False)
                return Summary(
                    coordinator.finished,
                    sum(r.status in (Status.QUEUED, Status.RUNNING) for r in repos),
                    sum(r.status is Status.HELD for r in repos),
                )
            finally:
                ledger.close()
    finally:
        with _signals_deferred():  # a second Ctrl-C or SIGTERM must not cut the clean-up short
            pool.close()
            stop_leftovers(folder)
            shutil.rmtree(folder / "tmp", ignore_errors=True)
            lock.__exit__(None, None, None)


def close_all(folder: Path, say: Callable[[str], None]) -> int:
    """Close every pull request the campaign published that is still open; how many were closed.

    Errors: GoescapeError after trying them all, when some could not be closed.
    """
    settings = settings_of(folder)
    closed, failed = 0, 0
    with _locked(folder):
        ledger = Ledger(folder)
        try:
            for name, url, number, pr_url in ledger.open_publications():
                try:
                    kind, base_url, path = settings.forge_of(url)
                    if forge_for(kind, base_url, path, os.environ.get(TOKENS[kind], "")).close(number):
                        closed += 1
                        say(f"{name}: closed {pr_url}")
                    else:
                        say(f"{name}: {pr_url} was already closed or merged")
                    ledger.mark_closed(url, number)
                except GoescapeError as exc:
                    failed += 1
                    say(f"{name}: could not close {pr_url}: {exc.line()}")
        finally:
            ledger.close()
    if failed:
        raise GoescapeError(
            f"{failed} pull request(s) could not be closed", path=folder, hint="run campaign close again"
        )
    return closed
