"""Stopping and progress: SIGTERM and Ctrl-C in the middle of verification leave no temporary, no
go process and no changed file; piped, progress is plain lines on stderr and stdout is the diff alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from goescape.engine import STOPPED
from goescape.engine.toolchain import Toolchain

from .conftest import PROGRESS_LINE

WAIT_FOR_VERIFICATION = 600  # seconds: a cold calibration cache is measured first
STOPS_WITHIN = 30


def _snapshot(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _fix(module: Path, tmp: Path) -> subprocess.Popen[str]:
    """`goescape fix ./...` in `module` with TMPDIR=`tmp`, both pipes read by the caller."""
    return subprocess.Popen(
        [sys.executable, "-m", "goescape.engine", "fix", "-C", str(module), "./..."],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"TMPDIR": str(tmp)},
        # A job started in the background of a non-interactive shell inherits SIGINT ignored: give
        # the child the default, as a terminal would.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _drain(stream: object, into: list[str]) -> threading.Thread:
    """Read a pipe to its end in the background, so that the child never blocks writing to it."""

    def read() -> None:
        for line in stream:  # type: ignore[attr-defined]
            into.append(line)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def _go_commands_in(module: Path) -> list[str]:
    """Processes still working in `module` (the go command, a compiler, a test binary)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if Path(os.readlink(proc / "cwd")).is_relative_to(module):
                found.append((proc / "cmdline").read_text().replace("\0", " "))
        except OSError:
            continue
    return found


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_during_verification_stops_and_cleans_up(
    examples_copy: Path, tmp_path: Path, toolchain: Toolchain, sig: signal.Signals, status: int
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    before = _snapshot(examples_copy)
    proc = _fix(examples_copy, tmp)
    out: list[str] = []
    err: list[str] = []
    readers = [_drain(proc.stdout, out), _drain(proc.stderr, err)]
    deadline = time.monotonic() + WAIT_FOR_VERIFICATION
    # A run folder in the overlay's temporary directory: a go command of verification has started.
    while not list(tmp.glob("goescape-overlay-*/run*")):
        assert proc.poll() is None, "".join(err)
        assert time.monotonic() < deadline, "verification never started"
        time.sleep(0.05)
    proc.send_signal(sig)
    try:
        proc.wait(timeout=STOPS_WITHIN)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"still running {STOPS_WITHIN}s after {sig.name}")
    for reader in readers:
        reader.join(timeout=10)
    assert proc.returncode == status, "".join(err)
    assert [line for line in err if "stopped" in line] == [STOPPED + "\n"], "".join(err)
    assert "Traceback" not in "".join(err)
    assert out == [], "nothing was delivered"
    assert sorted(p.name for p in tmp.iterdir()) == [], "every temporary is gone, the go command's own too"
    assert _snapshot(examples_copy) == before, "no file changed"
    assert not _go_commands_in(examples_copy), "every go process it started has ended"


def test_piped_progress_is_plain_lines_on_stderr_and_stdout_is_the_diff(
    examples_copy: Path, tmp_path: Path, toolchain: Toolchain
) -> None:
    proc = _fix(examples_copy, tmp_path)
    out, err = proc.communicate(timeout=WAIT_FOR_VERIFICATION)
    assert proc.returncode == 0, err
    steps = [line for line in err.splitlines() if PROGRESS_LINE.match(line)]
    for phase in ("] compiling ", "] proposing ", "] building ", "] testing ", "] measuring "):
        assert any(phase in line for line in steps), f"a line for{phase[1:]}...: {err}"
    assert "\x1b" not in err and "\r" not in err, "no ANSI escape, no carriage return"
    assert out.startswith("diff --git "), out[:200]
    assert all(line.startswith(("diff --git ", "--- ", "+++ ", "@@ ", " ", "+", "-")) for line in out.splitlines())
