"""goescape's engine: toolchain, facts, codemod API, edits, verification and the CLI."""

from __future__ import annotations

__version__ = "0.1.0"
