"""Campaigns: `goescape fix` over many repositories, one branch and one pull request each.

The coordinator reads the SPEC (or a forge organisation), keeps the ledger, hands each
repository's stages to a pool (engine/workers.py) and publishes the pull requests itself, so
`--max-prs-per-hour` holds across workers. Stages per repository, in order: verify (clone, build,
vet, test; no figures), measure (allocation figures and the branch, on `bench` workers), publish.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import fcntl
import os
import re
import shutil
import signal
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from goescape.engine.errors import GoescapeError
from goescape.engine.forges import TOKENS, Spec, authenticated, forge_for, guess_kind, parse_remote
from goescape.engine.git import push
from goescape.engine.ledger import FINISHED, Ledger, Repository, Stage, Status
from goescape.engine.workers import RETRIES, Job, Outcome, Pool


@dataclass(frozen=True)
class Entry:
    """One repository of the SPEC: a git URL or a local path, and the ref to start from."""

    url: str
    ref: str | None


def _is_url(text: str) -> bool:
    return "://" in text or bool(re.match(r"^[\w.-]+@[\w.-]+:", text))


def read_spec(path: Path) -> list[Entry]:
    """The SPEC file: one `URL [REF]` per line; `#` starts a comment; a local path is relative
    to the SPEC's folder. Errors: GoescapeError naming FILE:LINE."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise GoescapeError(f"cannot read the SPEC: {exc.strerror}", path=path) from exc
    entries: list[Entry] = []
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        where = f"{path}:{number}"
        if len(words) > 2:
            raise GoescapeError(f"expected `URL [REF]`, found {len(words)} words", path=where)
        url = words[0]
        if not _is_url(url):
            local = (path.parent / url).resolve()
            if not (local / ".git").exists():
                raise GoescapeError(f"{url} is neither a URL nor a local git repository", path=where)
            url = str(local)
        entries.append(Entry(url, words[1] if len(words) == 2 else None))
    if not entries:
        raise GoescapeError("the SPEC lists no repository", path=path, hint="one `URL [REF]` per line")
    return entries


def names(entries: Sequence[Entry]) -> list[tuple[str, str, str | None]]:
    """(folder name, url, ref) for each entry: the URL's last two path parts, and the ref, made unique."""
    taken: set[str] = set()
    out = []
    for e in entries:
        path = urllib.parse.urlparse(e.url).path if "://" in e.url else e.url.split(":", 1)[-1]
        parts = [p for p in path.removesuffix(".git").split("/") if p][-2:]
        base = re.sub(r"[^A-Za-z0-9._-]+", "-", "-".join(parts + ([e.ref] if e.ref else []))).strip(".-") or "repo"
        name, n = base, 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        taken.add(name)
        out.append((name, e.url, e.ref))
    return out


@dataclass(frozen=True)
class Settings:
    """How the campaign runs each repository; kept in the ledger so `resume` runs it the same way."""

    fix_args: tuple[str, ...] = ()
    branch: str = "goescape/campaign"
    pr: bool = False
    forge: str | None = None
    base_url: str | None = None
    draft: bool = False
    labels: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()
    gocache: str | None = None
    max_prs_per_hour: int | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Settings:
        tuples = {"fix_args", "labels", "reviewers"}
        fields: dict[str, Any] = {k: tuple(v) if k in tuples else v for k, v in data.items()}
        return cls(**fields)

    def forge_of(self, url: str) -> tuple[str, str, str]:
        """(kind, API base URL, owner/name) for a repository URL. Errors: GoescapeError for a local path."""
        if not _is_url(url):
            raise GoescapeError("a local path has no forge to open a pull request on", path=url)
        host, repo = parse_remote(url)
        base = self.base_url or host
        return self.forge or guess_kind(base), base, repo

    def check_forges(self, urls: Sequence[str]) -> None:
        """Refuse before any work when --pr cannot be honoured for some repository."""
        for url in urls:
            kind, _, _ = self.forge_of(url)
            if not os.environ.get(TOKENS[kind]):
                raise GoescapeError(f"no token for {kind}", path=url, hint=f"set {TOKENS[kind]}")


@dataclass(frozen=True)
class Summary:
    finished: int  # in this run
    left: int  # queued or running (after an interrupt or --canary)
    held: int  # pull requests waiting for --max-prs-per-hour
    next_publication: float | None  # when the next held pull request may go (seconds since the epoch)


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "campaign.lock").open("wb") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise GoescapeError(
                "another goescape campaign is running in this folder", path=folder, hint="wait for it, or stop it"
            ) from exc
        yield


@contextlib.contextmanager
def _terminated_as_interrupt() -> Iterator[None]:
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _counts(report: dict[str, Any] | None, leave_out: frozenset[str] = frozenset()) -> tuple[int, int]:
    """(verified, rejected) in a fix --all-modules JSON report, codemods in `leave_out` not counted."""
    results = [r for m in (report or {}).get("modules", []) for r in m["results"] if r["codemod"] not in leave_out]
    return sum(r["result"] == "verified" for r in results), sum(r["result"] == "rejected" for r in results)


def verified_codemods(report: dict[str, Any] | None) -> tuple[str, ...]:
    return tuple(
        sorted(
            {r["codemod"] for m in (report or {}).get("modules", []) for r in m["results"] if r["result"] == "verified"}
        )
    )


class Coordinator:
    """Runs a campaign folder's queued work on a pool, recording each stage's end in the ledger."""

    def __init__(self, folder: Path, ledger: Ledger, settings: Settings, pool: Pool, say: Callable[[str], None]):
        self.folder, self.ledger, self.settings, self.pool, self.say = folder, ledger, settings, pool, say
        self.inflight: dict[concurrent.futures.Future[Outcome], Job] = {}
        self.finished = 0

    def job(self, repo: Repository) -> Job:
        reports = repo.report or {}
        return Job(
            repo.name,
            repo.url,
            repo.ref,
            repo.stage,
            self.folder,
            self.settings.fix_args,
            self.settings.branch,
            self.settings.gocache,
            verified_codemods(reports.get("verify")),
            repo.commit,
        )

    def launch(self, repo: Repository) -> None:
        if repo.stage is Stage.PUBLISH:
            self.publish(repo)
            return
        job = self.job(repo)
        self.ledger.update(repo.name, status=Status.RUNNING, attempts=repo.attempts + 1)
        self.inflight[self.pool.submit(job)] = job

    def run(self, todo: Sequence[Repository]) -> None:
        for repo in todo:
            self.launch(repo)
        while self.inflight:
            done, _ = concurrent.futures.wait(self.inflight, return_when=concurrent.futures.FIRST_COMPLETED)
            died: list[Job] = []
            for future in done:
                job = self.inflight.pop(future)
                try:
                    outcome = future.result()
                except Exception as exc:
                    if self.pool.broken(exc):
                        died.append(job)
                    else:
                        self.end(job.name, Status.FAILED, reason=f"the {job.stage.value} task failed: {exc}")
                    continue
                self.record(outcome)
            if died:
                self.after_worker_death(died)

    def after_worker_death(self, died: list[Job]) -> None:
        """A local worker died: the pool is broken, so every stage in flight is started again."""
        concurrent.futures.wait(self.inflight)
        died += list(self.inflight.values())
        self.inflight.clear()
        self.pool.restart()
        for job in died:
            repo = self.ledger.get(job.name)
            if repo.attempts >= RETRIES:
                self.end(job.name, Status.FAILED, reason=f"its worker died in {job.stage.value} {repo.attempts} times")
            else:
                self.say(f"{job.name}: a worker died; {job.stage.value} starts again")
                self.launch(repo)

    def record(self, outcome: Outcome) -> None:
        o = outcome
        self.ledger.record_task(
            o.name, o.stage, o.worker, o.gocache, o.started, o.seconds, o.peak_rss_kib, o.reason or "ok"
        )
        repo = self.ledger.get(o.name)
        if not o.ok:
            self.end(o.name, Status.FAILED, reason=f"{o.stage.value}: {o.reason}")
            return
        reports = (repo.report or {}) | {o.stage.value: o.report}
        if o.stage is Stage.VERIFY:
            verified, rejected = _counts(o.report)
            if not verified:
                self.end(o.name, Status.DONE, verified=0, rejected=rejected, report=reports, commit=o.commit)
                return
            self.ledger.update(
                o.name, stage=Stage.MEASURE, status=Status.QUEUED, report=reports, commit=o.commit, base=o.base
            )
            self.launch(self.ledger.get(o.name))
            return
        measured = frozenset(verified_codemods(reports.get("verify")))
        verified, rejected = _counts(o.report)
        rejected += _counts(reports.get("verify"), leave_out=measured)[1]
        if not verified or not self.settings.pr:
            self.end(o.name, Status.DONE, verified=verified, rejected=rejected, report=reports)
            return
        self.ledger.update(
            o.name, stage=Stage.PUBLISH, status=Status.QUEUED, verified=verified, rejected=rejected, report=reports
        )
        self.publish(self.ledger.get(o.name))

    def end(self, name: str, status: Status, **fields: Any) -> None:
        self.ledger.update(name, status=status, **fields)
        self.finished += 1
        self.say(f"{name}: {self.ledger.get(name).outcome()}")

    def next_slot(self) -> float | None:
        """When the next pull request may go under --max-prs-per-hour; None when it may go now."""
        limit = self.settings.max_prs_per_hour
        if not limit:
            return None
        recent = self.ledger.publications_since(time.time() - 3600)
        return recent[-limit] + 3600 if len(recent) >= limit else None

    def publish(self, repo: Repository) -> None:
        wait = self.next_slot()
        if wait is not None:
            when = time.strftime("%H:%M", time.localtime(wait))
            self.ledger.update(
                repo.name,
                status=Status.HELD,
                reason=f"--max-prs-per-hour {self.settings.max_prs_per_hour}; next at {when}",
            )
            return
        made = (repo.report or {}).get("measure", {}).get("branch") or {}
        try:
            kind, base_url, path = self.settings.forge_of(repo.url)
            if not repo.base:
                raise GoescapeError("the remote has no default branch for the pull request to target", path=repo.url)
            token = os.environ.get(TOKENS[kind], "")
            forge = forge_for(kind, base_url, path, token)
            clone = self.folder / "repos" / repo.name
            push(clone, "origin", self.settings.branch, url=authenticated(repo.url, kind, token))
            spec = Spec(
                made["title"],
                made["body"],
                self.settings.branch,
                repo.base,
                self.settings.draft,
                self.settings.labels,
                self.settings.reviewers,
            )
            pr = forge.publish(spec)
        except GoescapeError as exc:
            self.end(repo.name, Status.FAILED, reason=f"publish: {exc.line()}")
            return
        self.ledger.record_publication(repo.name, pr.number, pr.url)
        self.end(repo.name, Status.DONE, pr_url=pr.url, pr_number=pr.number, reason="")


def start(folder: Path, entries: Sequence[Entry], settings: Settings, fresh: bool) -> None:
    """Write a new campaign's repositories and settings into DIR's ledger.

    Errors: GoescapeError when DIR already holds a campaign (unless `fresh`, which queues every
    repository again and keeps the clones' folder).
    """
    if settings.pr:
        settings.check_forges([e.url for e in entries])
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder):
        ledger = Ledger(folder)
        try:
            if ledger.repositories() and not fresh:
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
    if not (folder / "campaign.db").is_file():
        raise GoescapeError(
            "no campaign here", path=folder, hint="start one with: goescape campaign run SPEC --dir DIR"
        )
    ledger = Ledger(folder)
    try:
        return Settings.from_json(ledger.meta("settings") or {})
    finally:
        ledger.close()


def resume(
    folder: Path,
    pool_of: Callable[[], Pool],
    say: Callable[[str], None],
    canary: int | None = None,
    max_prs_per_hour: int | None = None,
) -> Summary:
    """Run what the ledger says is left: held pull requests first, then queued and interrupted
    stages in SPEC order (only the first `canary` repositories when given).

    Ctrl-C and SIGTERM stop the workers and leave the ledger as the last finished stage left it.
    """
    settings = settings_of(folder)
    if max_prs_per_hour is not None:
        settings = Settings.from_json(asdict(settings) | {"max_prs_per_hour": max_prs_per_hour})
    with _locked(folder), _terminated_as_interrupt():
        ledger = Ledger(folder)
        if max_prs_per_hour is not None:
            ledger.set_meta("settings", asdict(settings))
        pool: Pool | None = None
        try:
            ledger.requeue_interrupted()
            pool = pool_of()
            say(f"campaign in {folder}: {pool.describe}")
            coordinator = Coordinator(folder, ledger, settings, pool, say)
            for repo in ledger.repositories():
                if repo.status is Status.HELD:
                    coordinator.publish(repo)
            todo = [r for r in ledger.repositories() if r.status is Status.QUEUED]
            coordinator.run(todo[:canary] if canary else todo)
            repos = ledger.repositories()
            held = sum(r.status is Status.HELD for r in repos)
            return Summary(
                coordinator.finished,
                sum(r.status not in FINISHED and r.status is not Status.HELD for r in repos),
                held,
                coordinator.next_slot() if held else None,
            )
        finally:
            if pool is not None:
                pool.close()
            shutil.rmtree(folder / "tmp", ignore_errors=True)
            ledger.close()


def close_all(folder: Path, say: Callable[[str], None]) -> int:
    """Close every pull request the campaign opened that is still open; how many were closed."""
    settings = settings_of(folder)
    closed = 0
    with _locked(folder):
        ledger = Ledger(folder)
        try:
            for repo in ledger.repositories():
                if repo.pr_number is None:
                    continue
                kind, base_url, path = settings.forge_of(repo.url)
                forge = forge_for(kind, base_url, path, os.environ.get(TOKENS[kind], ""))
                if forge.close(repo.pr_number):
                    closed += 1
                    say(f"{repo.name}: closed {repo.pr_url}")
                ledger.update(repo.name, reason="pull request closed by campaign close")
        finally:
            ledger.close()
    return closed
