"""The built-in codemods, listed explicitly in the order goescape runs and lists them."""

from __future__ import annotations

from types import ModuleType

from goescape.codemods import (
    appendf,
    bytes_twin,
    closure_param,
    concat_builder,
    errors_sentinel,
    prealloc,
    return_value,
    sort_slice,
    split_seq,
    sprint,
    struct_layout,
    write_string,
)

BUILTIN: tuple[ModuleType, ...] = (
    return_value,
    sprint,
    closure_param,
    prealloc,
    errors_sentinel,
    write_string,
    sort_slice,
    bytes_twin,
    concat_builder,
    appendf,
    split_seq,
    struct_layout,
)
