"""The terminal: the one module that imports rich; every other module prints through what it exports.

Consoles are styled on a terminal and plain when piped; a piped console is as wide as its longest
line needs (up to `PIPED_WIDTH`), not rich's 80 columns. Long work reports its steps to `Progress`:
a bar on a terminal, plain lines in a log.
"""

from __future__ import annotations

import io
import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Protocol

from rich.console import Console, RenderableType
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.progress import Progress as Bars
from rich.table import Table
from rich.text import Text

__all__ = [
    "PIPED_WIDTH",
    "Console",
    "Progress",
    "Steps",
    "Table",
    "Text",
    "captured",
    "console",
    "escape",
    "no_steps",
]

PIPED_WIDTH = 160  # columns of a piped console: wide enough that table rows are not wrapped


def console(stderr: bool = False) -> Console:
    """A console on stdout (or stderr): the terminal's width there, `PIPED_WIDTH` when piped."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else PIPED_WIDTH)


def captured(print_to: Callable[[Console], None]) -> str:
    """What `print_to` prints, as text: styled when stdout is a terminal, plain otherwise."""
    tty = sys.stdout.isatty()
    buffer = io.StringIO()
    print_to(Console(file=buffer, width=None if tty else PIPED_WIDTH, force_terminal=tty))
    return buffer.getvalue()


class Steps(Protocol):
    """What long work reports to: `steps(text)` begins a step (or updates the one of that text);
    `done` of `total` counts it when it is made of items (test packages, calibration pairs)."""

    def __call__(self, text: str, done: int | None = None, total: int | None = None) -> None: ...


def no_steps(text: str, done: int | None = None, total: int | None = None) -> None:
    """Steps that show nothing: the default wherever progress is optional."""


def elapsed(seconds: float) -> str:
    """`45s`, `1m20s`, `2h05m`."""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class Progress:
    """Long work's progress on stderr, as `Steps`; a context manager around the work.

    On a terminal: one line with a spinner, the step, a bar and "done/total" when counted, and the
    time the step has taken; it is gone when the work ends. Piped (a CI log): plain lines, never
    an ANSI escape or a carriage return: one per step as it begins ("goescape [14s] testing 12 of
    14 proposals", the run's time so far) and, while a step lasts, its
    state again at least every `every` seconds ("goescape [1m34s] measuring allocations with the tests
    of 7 packages: 3 of 7 (1m20s)", the step's own time last). A progress line never begins with
    "goescape: ", which an error line does.
    """

    def __init__(self, *, every: float = 10.0) -> None:
        self.every = every
        self._tty = sys.stderr.isatty()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._bars: Bars | None = None
        self._task: TaskID | None = None
        self._began = time.monotonic()
        self._text = ""  # the current step, and its count when it has one
        self._done: int | None = None
        self._total: int | None = None
        self._since = self._said = self._began  # when the step began, when a line last went out

    def __enter__(self) -> Progress:
        self._began = self._since = self._said = time.monotonic()
        if self._tty:
            self._bars = Bars(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                _Counted(BarColumn()),
                _Counted(MofNCompleteColumn()),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
                redirect_stdout=False,  # stdout is the report's alone
                redirect_stderr=False,
            )
            self._bars.start()
        else:
            self._ticker = threading.Thread(target=self._tick, name="goescape-progress", daemon=True)
            self._ticker.start()
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _exc: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        if self._bars is not None:
            self._bars.stop()

    def __call__(self, text: str, done: int | None = None, total: int | None = None) -> None:
        with self._lock:
            same = text == self._text
            self._text, self._done, self._total = text, done, total
            if not same:
                self._since = time.monotonic()
            if self._bars is not None:
                if same and self._task is not None:
                    self._bars.update(self._task, completed=done or 0, total=total)
                else:
                    if self._task is not None:
                        self._bars.remove_task(self._task)
                    self._task = self._bars.add_task(escape(text), total=total, completed=done or 0)
            elif not same:
                self._say(with_time=False)

    def print(self, text: str) -> None:
        """A line of its own on stderr, as written (above the bar on a terminal)."""
        with self._lock:
            if self._bars is not None:
                self._bars.console.print(text, markup=False, highlight=False)
            else:
                sys.stderr.write(text + "\n")
                sys.stderr.flush()

    def _tick(self) -> None:
        while not self._stop.wait(0.25):
            with self._lock:
                if self._text and time.monotonic() - self._said >= self.every:
                    self._say(with_time=True)

    def _say(self, *, with_time: bool) -> None:
        """The current step as a line (the lock held)."""
        now = time.monotonic()
        counted = f": {self._done or 0} of {self._total}" if self._total is not None else ""
        took = f" ({elapsed(now - self._since)})" if with_time else ""
        sys.stderr.write(f"goescape [{elapsed(now - self._began)}] {self._text}{counted}{took}\n")
        sys.stderr.flush()
        self._said = now


class _Counted(ProgressColumn):
    """A column shown only for a step that counts items: a bar is no use to one that does not."""

    def __init__(self, inner: ProgressColumn) -> None:
        super().__init__()
        self.inner = inner

    def render(self, task: Task) -> RenderableType:
        return self.inner.render(task) if task.total is not None else Text("")
