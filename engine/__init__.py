"""goescape's engine: toolchain, facts, codemod API, edits, verification and the CLI."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__version__ = "0.1.0"

STOPPED = "goescape: stopped; no file was changed"
_terminated = [0]  # the signal (SIGTERM or SIGHUP) that turned into the interrupt being handled; 0: Ctrl-C


def stop_status() -> int:
    """The exit status of a stopped run: 128 + the signal, as a shell reports it (130 for Ctrl-C,
    143 for SIGTERM, 129 for SIGHUP: a closed terminal or a dropped SSH session)."""
    return 128 + (_terminated[0] or signal.SIGINT)


def _on_sigterm(sig: int, frame: FrameType | None) -> None:
    if _terminated[0]:
        return  # already stopping: let the cleanup finish
    _terminated[0] = sig
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)  # Python's own raises KeyboardInterrupt; writing.py's holds it back
    else:
        raise KeyboardInterrupt  # SIGINT ignored (a background job): SIGTERM still stops


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops goescape as Ctrl-C does: a KeyboardInterrupt, so every `finally` and context
    manager runs (temporary overlays, calibration folders, the go commands' process groups) and
    an interrupt held back while files are written is held back for SIGTERM too. The exit status
    is then 143 (stop_status) instead of 130. SIGHUP (a closed terminal: the go commands run
    in their own process groups and would not hear it) does the same, exit 129. Outside the main
    thread nothing changes."""
    _terminated[0] = 0
    try:
        previous = {sig: signal.signal(sig, _on_sigterm) for sig in (signal.SIGTERM, signal.SIGHUP)}
    except ValueError:  # not the main thread: signals cannot be handled here
        yield
        return
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run() -> int:
    """The console script: Ctrl-C or SIGTERM at any moment, even while modules load, ends with one line
    (exit 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP), every temporary removed."""
    try:
        with sigterm_as_interrupt():
            from goescape.engine.cli import main

            return main()
    except KeyboardInterrupt:
        print(STOPPED, file=sys.stderr)
        return stop_status()
