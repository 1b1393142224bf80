"""The tiny allocator switched off: an overlay of the runtime whose heap profile samples every allocation."""

from __future__ import annotations

import re
from pathlib import Path

from goescape.engine.toolchain import Toolchain

# The branch of mallocgc that sends small pointer-free allocations to the tiny allocator (Go 1.22
# to 1.26 spell it `if noscan && size < maxTinySize {` or with more conditions after the size), and
# the switch of the size-specialized allocators (GOEXPERIMENT=sizespecializedmalloc, Go 1.26 on),
# whose generated functions pack tiny allocations too and never reach that branch.
_TINY_BRANCH = re.compile(rb"(\n\t+if )((?:noscan && )?size < maxTinySize(?: && [^\n{|]*)? \{)")
_SPECIALIZED = re.compile(rb"(\nconst sizeSpecializedMallocEnabled = )")


def exact_runtime(tc: Toolchain) -> dict[Path, bytes]:
    """An overlay of the toolchain's runtime/malloc.go whose tiny allocator is off, or {} when the
    tiny branch is not found exactly once, or the size-specialized switch more than once (another
    runtime: the profile then misses tiny allocations, and results say so).

    Only the profiled test runs use it; each side of a comparison runs the same runtime, and the
    build cache keeps its packages after the first build (20 to 50 s on 2 cores, go1.26.8).
    """
    path = tc.goroot / "src" / "runtime" / "malloc.go"
    try:
        data = path.read_bytes()
    except OSError:
        return {}
    if len(_TINY_BRANCH.findall(data)) != 1 or len(_SPECIALIZED.findall(data)) > 1:
        return {}
    data = _TINY_BRANCH.sub(rb"\1false && \2", data)
    return {path: _SPECIALIZED.sub(rb"\1false && ", data)}
