"""`python -m goescape.engine`: the same as the `goescape` command."""

from __future__ import annotations

from goescape.engine import run

raise SystemExit(run())
