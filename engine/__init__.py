"""goescape's engine: toolchain, facts, codemod API, edits, verification and the CLI."""

from __future__ import annotations

import sys

__version__ = "0.1.0"

STOPPED = "goescape: stopped; no file was changed"


def run() -> int:
    """The console script: Ctrl-C at any moment, even while modules load, ends with one line."""
    try:
        from goescape.engine.cli import main

        return main()
    except KeyboardInterrupt:
        print(STOPPED, file=sys.stderr)
        return 130
