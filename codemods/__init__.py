"""The built-in codemods, listed explicitly in the order goescape runs and lists them."""

from __future__ import annotations

from types import ModuleType

from goescape.codemods import closure_param, prealloc, return_value, sprint

BUILTIN: tuple[ModuleType, ...] = (return_value, sprint, closure_param, prealloc)
