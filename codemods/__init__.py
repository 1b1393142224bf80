"""The built-in codemods, listed explicitly in the order goescape runs and lists them."""

from __future__ import annotations

from types import ModuleType

from goescape.codemods import sprint

BUILTIN: tuple[ModuleType, ...] = (sprint,)
