"""Campaign workers: the stage a worker runs for one repository (pools.py holds the pools that run them).

A stage is `goescape fix --all-modules --json` in a child process, in a shallow clone under the
campaign folder, with the worker's own GOCACHE and TMPDIR. The campaign folder must be at the
same path on every worker (one machine, or a shared filesystem). The child dies with its worker
(`setpriv --pdeathsig`), so a stage run again after a worker died never races the first attempt.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from goescape.engine.errors import GoescapeError
from goescape.engine.forges import TOKENS, authenticated
from goescape.engine.git import local_clone, shallow_clone, target_branch
from goescape.engine.ledger import Stage

RETRIES = 3  # how often a stage starts again after a local worker died running it


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
    forge: str | None = None  # the forge of an http(s) URL: its token (if set) clones a private repository
    codemods: tuple[str, ...] = ()  # measure: only the codemods whose rewrites passed verify
    source: str = ""  # measure: the clone verify made, copied rather than fetched again


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
    clone: str  # this attempt's own clone, under folder/repos/NAME/
    worker: str
    gocache: str
    started: float
    seconds: float
    peak_rss_kib: int  # the largest resident set of this stage's goescape and the processes it waited for


@dataclass
class _Slot:
    """This worker process's claim on folder/workers/N.lock, and its GOCACHE."""

    number: int
    lock: IO[bytes]
    gocache: Path


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
        slot = _Slot(number, lock, folder / "gocache" / str(number))
        _SLOTS[folder] = slot
        return slot
    raise GoescapeError("no free worker slot", path=folder / "workers")


def _label() -> str:
    """The Dask worker's name, or "local" in a local process pool (where dask is never imported)."""
    module = sys.modules.get("distributed")
    if module is None:
        return "local"
    try:
        return str(module.get_worker().name)
    except ValueError:
        return "local"


# Never handed to the code under test: its tests run in the fix child.
_SECRETS = (*TOKENS.values(), "GH_TOKEN", "GIT_ASKPASS", "SSH_ASKPASS")


def _clone(job: Job) -> tuple[Path, str]:
    """This attempt's own clone under repos/NAME/ (an earlier attempt may still be running in its
    own; the coordinator removes the others when the repository is done) and its commit: verify
    clones the URL, measure copies verify's clone."""
    home = job.folder / "repos" / job.name
    home.mkdir(parents=True, exist_ok=True)
    clone = home / f"{job.stage.value}-{uuid.uuid4().hex[:8]}"
    if job.stage is Stage.VERIFY:
        token = os.environ.get(TOKENS.get(job.forge or "", ""), "")
        return clone, shallow_clone(job.url, job.ref, clone, auth_url=authenticated(job.url, job.forge or "", token))
    source = Path(job.source)
    if not (source / ".git").is_dir():
        raise GoescapeError(
            "the verify stage's clone is not here",
            path=source,
            hint="--dir must be at the same path on every worker (one machine or a shared filesystem)",
        )
    local_clone(source, clone, job.url)
    return clone, ""


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
    errors = [ln for ln in lines if ln.startswith("goescape: ")]  # its one-line error, after any headings
    last = (errors or lines or [""])[-1].removeprefix("goescape: ")
    return last or f"goescape fix exited with {code}"


def _fix(args: list[str], env: dict[str, str], tmp: Path) -> tuple[int, str, str, int]:
    """Run the fix child: (exit status, stdout, stderr, its peak resident set in KiB from wait4)."""
    with (tmp / "stdout").open("w+") as out, (tmp / "stderr").open("w+") as err:
        proc = subprocess.Popen(args, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return proc.returncode, out.read(), err.read(), usage.ru_maxrss


def run_stage(job: Job) -> Outcome:
    """Run `job` here: clone (verify) or copy verify's clone (measure), then `goescape fix` on it.

    Never raises for a repository's own faults: a clone, build or tool failure is an Outcome
    with ok False and the reason in one line.
    """
    slot = _slot(job.folder)
    tmp = job.folder / "tmp" / f"{slot.number}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    gocache = job.gocache or str(slot.gocache)
    worker = f"{_label()}#{slot.number}"
    started = time.time()
    commit, base, report, reason, rss, clone = "", None, None, "", 0, Path()
    try:
        clone, commit = _clone(job)
        if job.stage is Stage.VERIFY:
            base = target_branch(job.url, job.ref)
        env = {k: v for k, v in os.environ.items() if k not in _SECRETS and k != "GOESCAPE_CONFIG"}
        env |= {"GOCACHE": gocache, "TMPDIR": str(tmp)}
        code, stdout, stderr, rss = _fix(_command(job, clone), env, tmp)
        if code == 0:
            report = json.loads(stdout)
        else:
            reason = _reason(stderr, code)
    except GoescapeError as exc:
        reason = exc.line()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Outcome(
        job.name,
        job.stage,
        report is not None,
        report,
        reason,
        commit,
        base,
        str(clone),
        worker,
        gocache,
        started,
        time.time() - started,
        rss,
    )


def stop_leftovers(folder: Path) -> int:
    """SIGKILL every process on this machine whose TMPDIR lies in folder/tmp: the fix children of
    stopped workers and the go commands and test binaries they started (which outlive a killed
    parent). Linux (/proc); elsewhere nothing. Returns how many were stopped."""
    mark = f"TMPDIR={folder / 'tmp'}/".encode()
    stopped = 0
    for _ in range(5):  # a process may start another while the last one is stopped
        found = 0
        for entry in Path("/proc").glob("[0-9]*"):
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if any(var.startswith(mark) for var in environ.split(b"\0")) and int(entry.name) != os.getpid():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(entry.name), signal.SIGKILL)
                    found += 1
        stopped += found
        if not found:
            break
        time.sleep(0.05)
    return stopped
