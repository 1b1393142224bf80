"""goescape's engine: toolchain, facts, codemod API, edits, verification and the CLI."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__version__ = "0.1.0"

STOPPED = "goescape: stopped; no file was changed"
STOPPED_BY_SIGTERM = 143  # 128 + SIGTERM, as a shell reports a process SIGTERM ended; Ctrl-C is 130

_terminated = [False]


def terminated() -> bool:
    """Whether the interrupt being handled came from SIGTERM rather than Ctrl-C."""
    return _terminated[0]


def _on_sigterm(_sig: int, frame: FrameType | None) -> None:
    if _terminated[0]:
        return  # already stopping: let the cleanup finish
    _terminated[0] = True
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
    is then STOPPED_BY_SIGTERM (143) instead of 130. Outside the main thread nothing changes."""
    _terminated[0] = False
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread: signals cannot be handled here
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run() -> int:
    """The console script: Ctrl-C or SIGTERM at any moment, even while modules load, ends with one line
    (exit 130 for Ctrl-C, 143 for SIGTERM), every temporary removed."""
    try:
        with sigterm_as_interrupt():
            from goescape.engine.cli import main

            return main()
    except KeyboardInterrupt:
        print(STOPPED, file=sys.stderr)
        return STOPPED_BY_SIGTERM if terminated() else 130
