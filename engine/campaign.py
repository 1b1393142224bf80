"""Campaigns: `goescape fix` over many repositories, one branch and one pull request each.

The coordinator reads the SPEC (or a forge organisation), keeps the ledger, hands each
repository's stages to a pool (engine/workers.py) and publishes the pull requests itself, so
`--max-prs-per-hour` holds across workers. Stages per repository, in order: verify (clone, build,
vet, test; no figures), measure (allocation figures and the branch, on `bench` workers), publish.
"""

from __future__ import annotations

import collections
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
from goescape.engine.ledger import Ledger, Repository, Stage, Status
from goescape.engine.workers import RETRIES, Job, Outcome, Pool, stop_leftovers


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
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:  # missing, a folder, a bad name, not UTF-8 text
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise GoescapeError(
            f"cannot read the SPEC: {why}", path=str(path)[:200], hint="one `URL [REF]` per line"
        ) from exc
    entries: list[Entry] = []
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        where = f"{path}:{number}"
        if len(words) > 2:
            raise GoescapeError(f"expected `URL [REF]`, found {len(words)} words", path=where)
        url = words[0]
        if len(url) > 1000 or "\0" in line:
            raise GoescapeError("not a repository URL or path (too long, or a NUL byte)", path=where)
        if "://" in url and urllib.parse.urlparse(url).password:
            raise GoescapeError(
                "a URL with credentials in it would be stored in the ledger and shown in reports",
                path=where,
                hint="drop them: tokens come from GITHUB_TOKEN, GITLAB_TOKEN or GITEA_TOKEN, or git's credential helper",
            )
        if len(words) == 2 and words[1].startswith("-"):
            raise GoescapeError(f"{words[1]} is no ref", path=where)
        if not _is_url(url):
            try:
                local = (path.parent / url).resolve()
                found = (local / ".git").exists()
            except OSError:
                found = False
            if not found:
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
    workers: int = 1  # local workers, as last used (resume takes it when --workers is not given)

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


def _counts(report: dict[str, Any] | None, leave_out: frozenset[str] = frozenset()) -> tuple[int, int]:
    """(verified, rejected) in a fix --all-modules JSON report, codemods in `leave_out` not counted."""
    results = [r for r in _results(report) if r["codemod"] not in leave_out]
    return sum(r["result"] == "verified" for r in results), sum(r["result"] == "rejected" for r in results)


def _results(report: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [r for m in (report or {}).get("modules", []) for r in m["results"]]


def to_measure(report: dict[str, Any] | None) -> tuple[str, ...]:
    """The codemods the measure stage runs: those with a rewrite verify passed, or left unproven
    because only a run-time measurement proves it (stage "allocs" under --no-measure: prealloc's)."""
    return tuple(
        sorted(
            {
                r["codemod"]
                for r in _results(report)
                if r["result"] == "verified" or (r["result"] == "rejected" and r.get("stage") == "allocs")
            }
        )
    )


class Coordinator:
    """Hands a campaign folder's queued stages to a pool, at most `pool.slots` at once, and records
    each stage's end in the ledger; publishes the pull requests itself."""

    def __init__(self, folder: Path, ledger: Ledger, settings: Settings, pool: Pool, say: Callable[[str], None]):
        self.folder, self.ledger, self.settings, self.pool, self.say = folder, ledger, settings, pool, say
        self.waiting: collections.deque[str] = collections.deque()
        self.inflight: dict[concurrent.futures.Future[Outcome], Job] = {}
        self.finished = 0

    def job(self, repo: Repository) -> Job:
        reports = repo.report or {}
        forge = self.settings.forge_of(repo.url)[0] if repo.url.startswith(("http://", "https://")) else None
        return Job(
            repo.name,
            repo.url,
            repo.ref,
            repo.stage,
            self.folder,
            self.settings.fix_args,
            self.settings.branch,
            self.settings.gocache,
            forge,
            to_measure(reports.get("verify")),
            repo.clone,
        )

    def fill(self) -> None:
        while self.waiting and len(self.inflight) < self.pool.slots:
            repo = self.ledger.get(self.waiting.popleft())
            if repo.stage is Stage.PUBLISH:
                self.publish(repo)
                continue
            job = self.job(repo)
            try:
                future = self.pool.submit(job)
            except Exception as exc:
                if not self.pool.broken(exc):
                    raise
                self.waiting.appendleft(repo.name)
                self.after_worker_death([])
                continue
            self.ledger.update(repo.name, status=Status.RUNNING)
            self.inflight[future] = job

    def run(self, todo: Sequence[Repository]) -> None:
        self.waiting.extend(r.name for r in todo)
        self.fill()
        while self.inflight:
            done, _ = concurrent.futures.wait(self.inflight, return_when=concurrent.futures.FIRST_COMPLETED)
            died = [job for future in done if (job := self.collect(future)) is not None]
            if died:
                self.after_worker_death(died)
            self.publish_held()
            self.fill()

    def collect(self, future: concurrent.futures.Future[Outcome]) -> Job | None:
        """Record a finished future's outcome; its job when a local worker died running it."""
        job = self.inflight.pop(future)
        try:
            outcome = future.result()
        except Exception as exc:
            if self.pool.broken(exc):
                return job
            self.end(job.name, Status.FAILED, reason=f"{job.stage.value}: the task failed: {type(exc).__name__}: {exc}")
            return None
        self.record(outcome)
        return None

    def after_worker_death(self, died: list[Job]) -> None:
        """A local worker died and broke the pool: what already ended is kept, the stages in
        flight start again on a new pool, each stage at most RETRIES times."""
        concurrent.futures.wait(self.inflight)
        died += [job for future in list(self.inflight) if (job := self.collect(future)) is not None]
        self.pool.restart()
        for job in died:
            deaths = self.ledger.get(job.name).deaths + 1
            if deaths > RETRIES:
                self.end(job.name, Status.FAILED, reason=f"{job.stage.value}: its worker died {deaths} times")
                continue
            self.ledger.update(job.name, status=Status.QUEUED, deaths=deaths)
            self.say(f"{job.name}: a worker died; {job.stage.value} starts again")
            self.waiting.appendleft(job.name)

    def record(self, outcome: Outcome) -> None:
        o = outcome
        self.ledger.record_task(
            o.name, o.stage, o.worker, o.gocache, o.started, o.seconds, o.peak_rss_kib, o.reason or "ok"
        )
        if not o.ok:
            self.end(o.name, Status.FAILED, reason=f"{o.stage.value}: {o.reason}")
            return
        repo = self.ledger.get(o.name)
        reports = (repo.report or {}) | {o.stage.value: o.report}
        if o.stage is Stage.VERIFY:
            verified, rejected = _counts(o.report)
            if not to_measure(o.report):
                self.end(o.name, Status.DONE, rejected=rejected, report=reports, commit=o.commit, clone=o.clone)
                return
            self.ledger.update(
                o.name,
                stage=Stage.MEASURE,
                status=Status.QUEUED,
                deaths=0,
                report=reports,
                commit=o.commit,
                base=o.base,
                clone=o.clone,
            )
            self.waiting.appendleft(o.name)  # finish what was started before starting more
            return
        measured = frozenset(to_measure(reports.get("verify")))
        verified, rejected = _counts(o.report)
        rejected += _counts(reports.get("verify"), leave_out=measured)[1]
        made = (o.report or {}).get("branch") or {}
        fields = {
            "verified": verified,
            "rejected": rejected,
            "report": reports,
            "clone": o.clone,
            "branch": made.get("name"),
        }
        if not verified or not self.settings.pr:
            self.end(o.name, Status.DONE, **fields)
            return
        self.ledger.update(o.name, stage=Stage.PUBLISH, status=Status.QUEUED, deaths=0, **fields)
        self.publish(self.ledger.get(o.name))

    def end(self, name: str, status: Status, **fields: Any) -> None:
        self.ledger.update(name, status=status, **fields)
        self.finished += 1
        repo = self.ledger.get(name)
        if status is Status.DONE:  # the other attempts' clones (a failed one stays, for a look)
            for other in (self.folder / "repos" / name).glob("*"):
                if str(other) != repo.clone:
                    shutil.rmtree(other, ignore_errors=True)
        where = repo.where() if status is Status.DONE else ""
        self.say(f"{name}: {repo.outcome()}" + (f"; {where}" if where else ""))

    def next_slot(self) -> float | None:
        """When the next pull request may go under --max-prs-per-hour; None when it may go now."""
        limit = self.settings.max_prs_per_hour
        if not limit:
            return None
        recent = self.ledger.publications_since(time.time() - 3600)
        return recent[-limit] + 3600 if len(recent) >= limit else None

    def publish_held(self) -> None:
        for name in self.ledger.names(Status.HELD):
            if self.next_slot() is None:
                self.publish(self.ledger.get(name))

    def wait_for_held(self) -> None:
        """Publish the held pull requests as the hour allows (Ctrl-C stops; `resume` goes on)."""
        while self.ledger.names(Status.HELD):
            slot = self.next_slot()
            if slot is None:
                self.publish_held()
                continue
            when = time.strftime("%H:%M", time.localtime(slot))
            self.say(
                f"--max-prs-per-hour {self.settings.max_prs_per_hour}: waiting until {when} for the next pull request"
            )
            time.sleep(max(0.0, slot - time.time()) + 1)

    def publish(self, repo: Repository) -> None:
        wait = self.next_slot()
        if wait is not None:
            when = time.strftime("%H:%M", time.localtime(wait))
            reason = f"--max-prs-per-hour {self.settings.max_prs_per_hour}; next at {when}"
            self.ledger.update(repo.name, status=Status.HELD, reason=reason)
            return
        made = (repo.report or {}).get("measure", {}).get("branch") or {}
        try:
            if "title" not in made or not repo.clone:
                raise GoescapeError("the measure stage made no branch", path=repo.clone or repo.name)
            kind, base_url, path = self.settings.forge_of(repo.url)
            if not repo.base:
                raise GoescapeError("the remote has no default branch for the pull request to target", path=repo.url)
            token = os.environ.get(TOKENS[kind], "")
            forge = forge_for(kind, base_url, path, token)
            push(Path(repo.clone), "origin", self.settings.branch, url=authenticated(repo.url, kind, token))
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
            # The stage stays publish: `campaign resume` tries it again, nothing else.
            self.end(repo.name, Status.FAILED, reason=f"publish: {exc.line()}")
            return
        self.ledger.record_publication(repo.name, repo.url, pr.number, pr.url)
        self.end(repo.name, Status.DONE, pr_url=pr.url, pr_number=pr.number, reason="")


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
