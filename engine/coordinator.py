"""The campaign coordinator: hands queued stages to a pool, records each stage's end, publishes the pull requests."""

from __future__ import annotations

import collections
import concurrent.futures
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from goescape.engine.campaign_settings import Settings
from goescape.engine.errors import GoescapeError
from goescape.engine.forges import TOKENS, Spec, authenticated, forge_for
from goescape.engine.git import push
from goescape.engine.ledger import Ledger, Repository, Stage, Status
from goescape.engine.pools import Pool
from goescape.engine.workers import RETRIES, Job, Outcome


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
