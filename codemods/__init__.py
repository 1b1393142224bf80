"""The built-in codemods, listed explicitly in the order goescape runs and lists them."""

from __future__ import annotations

from types import ModuleType

from goescape.codemods import (
    appendf,
    bytes_twin,
    closure_param,
    concat_builder,
    const_var,
    errors_as,
    errors_sentinel,
    hoist_bytes,
    inline_constructor,
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
    errors_as,
    write_string,
    sort_slice,
    bytes_twin,
    concat_builder,
    appendf,
    split_seq,
    const_var,
    hoist_bytes,
    inline_constructor,
    struct_layout,
)
