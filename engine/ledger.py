"""A campaign's ledger: one SQLite database in the campaign folder holding every repository's state.

Only the coordinator writes, and it writes as each task ends, so a campaign killed at any moment
resumes from what the ledger says: a stage that finished is never run again, one that was running
is run again (every stage is safe to repeat: clones are made afresh, branches replaced, pull
requests found again by their marker).
"""

from __future__ import annotations

import enum
import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from goescape.engine.errors import GoescapeError

SCHEMA = 1
FILE = "campaign.db"


class Status(enum.Enum):
    QUEUED = "queued"  # waiting for its next stage
    RUNNING = "running"  # a stage was handed to a worker
    HELD = "held"  # its branch is ready; the pull request waits for --max-prs-per-hour
    DONE = "done"  # finished: verified N, rejected N, perhaps a pull request
    FAILED = "failed"  # finished with a reason (the clone, the build or the tool failed)


class Stage(enum.Enum):
    """A repository's stages in order; `measure` runs on workers with the `bench` resource."""

    VERIFY = "verify"  # clone, compile, propose, build, vet and test (no allocation figures)
    MEASURE = "measure"  # the same with allocation measurements, and the branch
    PUBLISH = "publish"  # push and open or update the pull request (the coordinator does it)


FINISHED = (Status.DONE, Status.FAILED)


@dataclass(frozen=True)
class Repository:
    """One line of the ledger (see `Ledger.repositories`)."""

    name: str  # the folder under repos/, unique in the campaign
    url: str
    ref: str | None
    position: int
    status: Status
    stage: Stage
    verified: int
    rejected: int
    reason: str
    pr_url: str
    pr_number: int | None
    commit: str
    base: str | None  # the branch a pull request targets
    clone: str  # the clone of the last stage that ended (measure's holds the branch)
    made: str | None  # the branch the measure stage made in `clone`
    deaths: int  # how often a worker died running its current stage
    report: dict[str, Any] | None  # the last stage's `goescape fix --json` report
    updated: float

    def outcome(self) -> str:
        """What happened, in words: "verified 2, rejected 1", "failed: ...", "queued"."""
        if self.status is Status.FAILED:
            return f"failed: {self.reason}"
        if self.status is Status.DONE:
            return "nothing to do" if not (self.verified or self.rejected) else self.counts()
        if self.status is Status.HELD:
            return f"{self.counts()}; pull request held back ({self.reason})"
        if self.status is Status.RUNNING:
            return f"running ({self.stage.value})"
        return f"{self.status.value} ({self.stage.value})"

    def counts(self) -> str:
        return f"verified {self.verified}, rejected {self.rejected}"

    def branch(self) -> str | None:
        """The branch the measure stage made in `clone`, or None."""
        return self.made

    def where(self) -> str:
        """Where the result is: the pull request, or the branch and the clone holding it."""
        if self.pr_url:
            return self.pr_url
        name = self.branch()
        return f"branch {name} in {self.clone}" if name and self.status is Status.DONE else ""


_TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS repositories (
    name TEXT PRIMARY KEY, url TEXT NOT NULL, ref TEXT, position INTEGER NOT NULL,
    status TEXT NOT NULL, stage TEXT NOT NULL, verified INTEGER NOT NULL DEFAULT 0,
    rejected INTEGER NOT NULL DEFAULT 0, reason TEXT NOT NULL DEFAULT '', pr_url TEXT NOT NULL DEFAULT '',
    pr_number INTEGER, commit_sha TEXT NOT NULL DEFAULT '', base TEXT, clone TEXT NOT NULL DEFAULT '', branch TEXT,
    deaths INTEGER NOT NULL DEFAULT 0, report TEXT, updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tasks (
    repository TEXT NOT NULL, stage TEXT NOT NULL, worker TEXT NOT NULL, gocache TEXT NOT NULL,
    started REAL NOT NULL, finished REAL NOT NULL, seconds REAL NOT NULL, peak_rss_kib INTEGER NOT NULL,
    outcome TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS publications (
    repository TEXT NOT NULL, repository_url TEXT NOT NULL, at REAL NOT NULL, number INTEGER NOT NULL,
    url TEXT NOT NULL, closed INTEGER NOT NULL DEFAULT 0
);
"""


class Ledger:
    """The SQLite database at DIR/campaign.db. Errors: GoescapeError naming the file when it is
    not a campaign's, or one written by a newer goescape."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / FILE
        try:
            self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables and "meta" not in tables:
                self._db.close()
                raise sqlite3.DatabaseError("it holds other tables")
            self._db.executescript(_TABLES)
            found = self.meta("schema")
        except sqlite3.DatabaseError as exc:
            raise GoescapeError(f"not a campaign ledger: {exc}", path=self.path, hint="pick another --dir") from exc
        if found is None:
            self.set_meta("schema", SCHEMA)
        elif found != SCHEMA:
            raise GoescapeError(
                f"the ledger has schema {found}; this goescape reads {SCHEMA}",
                path=self.path,
                hint="use the goescape that started the campaign",
            )

    def close(self) -> None:
        self._db.close()

    def meta(self, key: str) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_meta(self, key: str, value: object) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    def add(self, entries: Sequence[tuple[str, str, str | None]]) -> None:
        """Queue (name, url, ref) entries at the end, in order; a name already there is kept as it is."""
        start = self._db.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM repositories").fetchone()[0]
        with self._transaction():
            for i, (name, url, ref) in enumerate(entries):
                self._db.execute(
                    "INSERT OR IGNORE INTO repositories (name, url, ref, position, status, stage, updated)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (name, url, ref, start + i, Status.QUEUED.value, Stage.VERIFY.value, time.time()),
                )

    def clear(self) -> None:
        """Forget every repository (tasks and publications stay: --max-prs-per-hour counts them)."""
        self._db.execute("DELETE FROM repositories")

    _COLUMNS = (
        "name, url, ref, position, status, stage, verified, rejected, reason, pr_url, pr_number,"
        " commit_sha, base, clone, branch, deaths, {report}, updated"
    )

    @staticmethod
    def _row(r: tuple[Any, ...]) -> Repository:
        values = list(r)
        values[4], values[5] = Status(r[4]), Stage(r[5])
        values[16] = json.loads(r[16]) if r[16] else None
        return Repository(*values)

    def repositories(self, reports: bool = True) -> list[Repository]:
        """Every repository in SPEC order; `reports=False` leaves their fix reports out (report None),
        which a large campaign's status and coordinator need not parse."""
        columns = self._COLUMNS.format(report="report" if reports else "NULL")
        rows = self._db.execute(f"SELECT {columns} FROM repositories ORDER BY position").fetchall()
        return [self._row(r) for r in rows]

    def names(self, status: Status) -> list[str]:
        rows = self._db.execute("SELECT name FROM repositories WHERE status = ? ORDER BY position", (status.value,))
        return [r[0] for r in rows.fetchall()]

    def get(self, name: str) -> Repository:
        columns = self._COLUMNS.format(report="report")
        row = self._db.execute(f"SELECT {columns} FROM repositories WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise KeyError(name)
        return self._row(row)

    def update(self, name: str, **fields: Any) -> None:
        """Set columns of one repository (status and stage as enums, report as a dict)."""
        columns = {"commit": "commit_sha"}  # COMMIT is an SQL keyword
        values = {
            columns.get(k, k): (
                v.value if isinstance(v, enum.Enum) else json.dumps(v) if k == "report" and v is not None else v
            )
            for k, v in fields.items()
        }
        values["updated"] = time.time()
        assignments = ", ".join(f"{k} = ?" for k in values)
        self._db.execute(f"UPDATE repositories SET {assignments} WHERE name = ?", (*values.values(), name))

    def requeue_interrupted(self) -> int:
        """Put back in the queue what was running when the last coordinator stopped; how many."""
        cur = self._db.execute(
            "UPDATE repositories SET status = ? WHERE status = ?", (Status.QUEUED.value, Status.RUNNING.value)
        )
        return cur.rowcount

    def retry_failed(self, stages: tuple[Stage, ...]) -> int:
        """Queue again the failed repositories whose failed stage is one of `stages`; how many."""
        marks = ", ".join("?" for _ in stages)
        cur = self._db.execute(
            f"UPDATE repositories SET status = ?, reason = '' WHERE status = ? AND stage IN ({marks})",
            (Status.QUEUED.value, Status.FAILED.value, *(s.value for s in stages)),
        )
        return cur.rowcount

    def record_task(
        self, name: str, stage: Stage, worker: str, gocache: str, started: float, seconds: float, rss: int, outcome: str
    ) -> None:
        self._db.execute(
            "INSERT INTO tasks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (name, stage.value, worker, gocache, started, started + seconds, seconds, rss, outcome),
        )

    def tasks(self) -> list[dict[str, Any]]:
        cur = self._db.execute("SELECT * FROM tasks ORDER BY started")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def record_publication(self, name: str, repository_url: str, number: int, url: str) -> None:
        self._db.execute(
            "INSERT INTO publications (repository, repository_url, at, number, url) VALUES (?, ?, ?, ?, ?)",
            (name, repository_url, time.time(), number, url),
        )

    def open_publications(self) -> list[tuple[str, str, int, str]]:
        """(repository, repository URL, number, URL) of each pull request published and not closed by
        `campaign close`, once each, however often it was updated (kept across `run --fresh`)."""
        rows = self._db.execute(
            "SELECT repository, repository_url, number, url FROM publications WHERE closed = 0"
            " GROUP BY repository_url, number ORDER BY MIN(at)"
        ).fetchall()
        return [tuple(r) for r in rows]

    def mark_closed(self, repository_url: str, number: int) -> None:
        self._db.execute(
            "UPDATE publications SET closed = 1 WHERE repository_url = ? AND number = ?", (repository_url, number)
        )

    def publications_since(self, since: float) -> list[float]:
        """When each pull request was opened or updated after `since` (seconds since the epoch), oldest first."""
        rows = self._db.execute("SELECT at FROM publications WHERE at > ? ORDER BY at", (since,)).fetchall()
        return [r[0] for r in rows]

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
