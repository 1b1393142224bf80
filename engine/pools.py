"""Pools: where campaign stages run, a local process pool or a Dask cluster (the one module that imports dask)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import multiprocessing
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from goescape.engine.errors import GoescapeError
from goescape.engine.ledger import Stage
from goescape.engine.workers import Job, Outcome, run_stage


def _worker_start() -> None:
    """A local pool's worker dies with its coordinator (Linux's PR_SET_PDEATHSIG), and its stage
    with it; Ctrl-C is the coordinator's to handle (it stops the workers)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
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
    slots: int = 1  # how many stages to hand out at once


def local_pool(workers: int) -> Pool:
    """A process pool of `workers` on this machine; a worker that dies breaks the pool, which
    `restart` replaces (the coordinator then submits the unfinished stages again)."""
    state: dict[str, concurrent.futures.ProcessPoolExecutor] = {}

    def start() -> None:
        state["pool"] = concurrent.futures.ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_start
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
        slots=workers,
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
    infos = client.scheduler_info().get("workers", {})
    benches = sum(1 for w in infos.values() if (w.get("resources") or {}).get("bench"))
    if not benches:
        client.close()  # type: ignore[no-untyped-call]
        raise GoescapeError(
            "no worker of this cluster has the resource bench=1, so no allocation could be measured",
            path=address,
            hint="start at least one worker with: dask worker ADDRESS --resources bench=1 --nthreads 1",
        )

    def submit(job: Job) -> concurrent.futures.Future[Outcome]:
        resources = {"bench": 1} if job.stage is Stage.MEASURE else None
        remote = client.submit(run_stage, job, pure=False, resources=resources)
        local: concurrent.futures.Future[Outcome] = concurrent.futures.Future()

        def done(f: Any) -> None:
            # The result is taken and the remote one released at once: a finished stage whose
            # result sat on a worker that dies later must not be computed again.
            try:
                error = f.exception()
                if error is None:
                    local.set_result(f.result())
                else:
                    local.set_exception(error)
            except BaseException as exc:  # cancelled, or the client closed
                local.set_exception(exc)
            finally:
                f.release()

        remote.add_done_callback(done)  # type: ignore[no-untyped-call]
        return local

    return Pool(
        submit=submit,
        close=client.close,
        restart=lambda: None,
        broken=lambda exc: False,
        describe=f"Dask at {address}: {len(infos)} workers, {benches} with bench=1",
        slots=2 * max(len(infos), 1),  # the scheduler places them; more than one each keeps workers busy
    )
