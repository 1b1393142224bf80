"""The terminal: the one module that imports rich; every other module prints through what it exports.

Consoles are styled on a terminal and plain when piped; a piped console is as wide as its longest
line needs (up to `PIPED_WIDTH`), not rich's 80 columns.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

__all__ = ["PIPED_WIDTH", "Console", "Table", "Text", "captured", "console", "escape"]

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
