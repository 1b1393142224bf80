"""Campaign workers: the stage a worker runs for one repository, and the pools that run stages
(a local process pool, or a Dask distributed cluster: the one module that imports dask).

A stage is `goescape fix --all-modules --json` in a child process, in a shallow clone under the
campaign folder, with the worker's own GOCACHE and TMPDIR. The campaign folder must be at the
same path on every worker (one machine, or a shared filesystem). The child dies with its worker
(`setpriv --pdeathsig`), so a stage run again after a worker died never races the first attempt.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import fcntl
import json
import multiprocessing
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from goescape.engine.errors import GoescapeError
from goescape.engine.git import shallow_clone, target_branch
from goescape.engine.ledger import Stage

RETRIES = 3  # how often a stage is started again after its worker died


@dataclass(frozen=True)
class Job:
    """One stage of one repository, as sent to a worker (picklable)."""

    name: str
    url: str
    ref: str | None
    stage: Stage
    folder: Path  # the campaign folder, at the same path on every worker
    fix_args: tuple[str, ...]  # the user's flags for `goescape fix`
    branch: str
    gocache: str | None  # one GOCACHE for every worker; None: each worker its own under folder/gocache
    codemods: tuple[str, ...] = ()  # measure: only the codemods whose rewrites passed verify
    commit: str = ""  # measure: the commit verify saw


@dataclass(frozen=True)
class Outcome:
    """What a stage did: `report` is fix's JSON report, `reason` one line when `ok` is False."""

    name: str
    stage: Stage
    ok: bool
    report: dict[str, Any] | None
    reason: str
    commit: str
    base: str | None
    worker: str
    gocache: str
    started: float
    seconds: float
    peak_rss_kib: int  # the largest of the worker and the processes it waited for


@dataclass
class _Slot:
    """This worker process's claim on folder/workers/N.lock, and its GOCACHE and TMPDIR."""

    number: int
    lock: IO[bytes]
    gocache: Path
    tmp: Path


_SLOTS: dict[Path, _Slot] = {}


def _slot(folder: Path) -> _Slot:
    """The first free slot number of this campaign folder, held for the process's life."""
    if folder in _SLOTS:
        return _SLOTS[folder]
    (folder / "workers").mkdir(parents=True, exist_ok=True)
    for number in range(10_000):
        lock = (folder / "workers" / f"{number}.lock").open("wb")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        slot = _Slot(number, lock, folder / "gocache" / str(number), folder / "tmp" / str(number))
        _SLOTS[folder] = slot
        return slot
    raise GoescapeError("no free worker slot", path=folder / "workers")


def _label() -> str:
    """The Dask worker's name, or "local" in a local process pool."""
    try:
        from distributed import get_worker
    except ImportError:
        return "local"
    try:
        return str(get_worker().name)
    except ValueError:
        return "local"


def _fresh_clone(job: Job, at: str | None) -> tuple[Path, str]:
    """A new shallow clone at repos/NAME (replacing what is there) and its commit."""
    clone = job.folder / "repos" / job.name
    partial = clone.with_name(f".{job.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    commit = shallow_clone(job.url, at, partial)
    shutil.rmtree(clone, ignore_errors=True)
    partial.rename(clone)
    return clone, commit


def _command(job: Job, clone: Path) -> list[str]:
    args = [sys.executable, "-m", "goescape.engine", "fix", "-C", str(clone), "--all-modules", "--json"]
    if job.stage is Stage.VERIFY:
        args += [*job.fix_args, "--no-measure"]
    else:
        # Only the codemods whose rewrites passed verify (the user's --codemod chose among them).
        args += [a for a in job.fix_args if not a.startswith("--codemod=")]
        args += ["--branch", job.branch, "--force", *(f"--codemod={name}" for name in job.codemods)]
    if shutil.which("setpriv"):
        args = ["setpriv", "--pdeathsig", "KILL", "--", *args]
    return args


def _reason(stderr: str, code: int) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    last = lines[-1].removeprefix("goescape: ") if lines else ""
    return last or f"goescape fix exited with {code}"


def run_stage(job: Job) -> Outcome:
    """Run `job` here: clone (verify) or reuse the clone (measure), then `goescape fix` on it.

    Never raises for a repository's own faults: a clone, build or tool failure is an Outcome
    with ok False and the reason in one line.
    """
    slot = _slot(job.folder)
    shutil.rmtree(slot.tmp, ignore_errors=True)  # what a killed attempt left
    slot.tmp.mkdir(parents=True, exist_ok=True)
    gocache = job.gocache or str(slot.gocache)
    worker = f"{_label()}#{slot.number}"
    started = time.time()
    commit, base, report, reason = job.commit, None, None, ""
    try:
        clone = job.folder / "repos" / job.name
        if job.stage is Stage.VERIFY:
            clone, commit = _fresh_clone(job, job.ref)
            base = target_branch(job.url, job.ref)
        elif not (clone / ".git").exists():
            clone, _ = _fresh_clone(job, job.commit)
        env = os.environ | {"GOCACHE": gocache, "TMPDIR": str(slot.tmp), "GOFLAGS": os.environ.get("GOFLAGS", "")}
        env.pop("GOESCAPE_CONFIG", None)
        proc = subprocess.run(_command(job, clone), capture_output=True, text=True, env=env, check=False)
        if proc.returncode == 0:
            report = json.loads(proc.stdout)
        else:
            reason = _reason(proc.stderr, proc.returncode)
    except GoescapeError as exc:
        reason = str(exc)
    finally:
        shutil.rmtree(slot.tmp, ignore_errors=True)
    rss = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    )
    return Outcome(
        job.name,
        job.stage,
        report is not None,
        report,
        reason,
        commit,
        base,
        worker,
        gocache,
        started,
        time.time() - started,
        rss,
    )


# --- Pools ---------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """A local pool's worker dies with its coordinator (Linux's PR_SET_PDEATHSIG), and its stage with it."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1


@dataclass
class Pool:
    """Where stages run: `submit(job)` gives a concurrent.futures.Future of an Outcome.

    Measure stages carry the Dask resource `bench=1`, so only workers started with that resource
    take allocation figures. `broken(exc)` tells whether a future failed because a local worker
    died, so that `restart` and submitting again are due (Dask retries on its own).
    """

    submit: Callable[[Job], concurrent.futures.Future[Outcome]]
    close: Callable[[], None]
    restart: Callable[[], None]
    broken: Callable[[BaseException], bool]
    describe: str
    workers: int = 0
    _keep: list[Any] = field(default_factory=list)


def local_pool(workers: int) -> Pool:
    """A process pool of `workers` on this machine; a worker that dies breaks the pool, which
    `restart` replaces (the coordinator then submits the unfinished stages again)."""
    state: dict[str, concurrent.futures.ProcessPoolExecutor] = {}

    def start() -> None:
        state["pool"] = concurrent.futures.ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"), initializer=_die_with_parent
        )

    def close() -> None:
        pool = state["pool"]
        for process in list(getattr(pool, "_processes", {}).values()):  # stop running stages now
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        pool.shutdown(wait=True, cancel_futures=True)

    def restart() -> None:
        with contextlib.suppress(Exception):
            close()
        start()

    start()
    return Pool(
        submit=lambda job: state["pool"].submit(run_stage, job),
        close=close,
        restart=restart,
        broken=lambda exc: isinstance(exc, concurrent.futures.process.BrokenProcessPool),
        describe=f"{workers} local worker{'s' if workers != 1 else ''}",
        workers=workers,
    )


def dask_pool(address: str) -> Pool:
    """A Dask distributed cluster at tcp://HOST:PORT. The scheduler starts a stage again on another
    worker when its worker dies (up to `distributed.scheduler.allowed-failures`, 3 by default).

    Errors: GoescapeError when dask.distributed is not installed or the scheduler cannot be reached.
    """
    try:
        import distributed
    except ImportError as exc:
        raise GoescapeError(
            "--scheduler needs dask.distributed", hint="pip install 'goescape[distributed]'", path=address
        ) from exc
    try:
        client = distributed.Client(address, timeout="10s", set_as_default=False)  # type: ignore[no-untyped-call]
    except OSError as exc:
        raise GoescapeError(f"cannot reach the Dask scheduler: {exc}", path=address) from exc
    compile_side = client.get_executor(pure=False)  # type: ignore[no-untyped-call]
    bench_side = client.get_executor(pure=False, resources={"bench": 1})  # type: ignore[no-untyped-call]
    infos = client.scheduler_info(n_workers=-1).get("workers", {})
    benches = sum(1 for w in infos.values() if (w.get("resources") or {}).get("bench"))
    if not benches:
        client.close()  # type: ignore[no-untyped-call]
        raise GoescapeError(
            "no worker of this cluster has the resource bench=1, so no allocation could be measured",
            path=address,
            hint="start at least one worker with: dask worker ADDRESS --resources bench=1 --nthreads 1",
        )

    def submit(job: Job) -> concurrent.futures.Future[Outcome]:
        side = bench_side if job.stage is Stage.MEASURE else compile_side
        future: concurrent.futures.Future[Outcome] = side.submit(run_stage, job)
        return future

    return Pool(
        submit=submit,
        close=client.close,
        restart=lambda: None,
        broken=lambda exc: False,
        describe=f"Dask at {address}: {len(infos)} workers, {benches} with bench=1",
        workers=len(infos),
        _keep=[client],
    )
