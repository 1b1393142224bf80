"""The user cache directory: where goescape keeps what it builds and measures."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def cache_dir() -> Path:
    """Where goescape keeps what it builds and measures: GOESCAPE_CACHE_DIR, else the user cache
    directory (platformdirs): the oracle, calibration figures, the gate's base worktrees, verified fixes."""
    return Path(os.environ.get("GOESCAPE_CACHE_DIR") or platformdirs.user_cache_dir("goescape"))
