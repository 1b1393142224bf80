"""Spans: the functions a rewrite changed, before and after, and the heap-profile samples credited to it."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from goescape.engine.parsing import FUNCTION_TYPES, SourceFile, enclosing, function_name, node_at
from goescape.engine.proposals import Proposal
from goescape.engine.samples import Sample

# A test or benchmark function, or a closure in one (t.Run, b.Run): the runner is the top function.
_RUNNER = re.compile(r"\.((?:Test|Benchmark|Fuzz|Example)\w*)(?:\.func\d+(?:\.\d+)*)*$")


@dataclass(frozen=True)
class _Target:
    """Where a proposal's allocations are counted: its rewritten functions' line spans, before and after."""

    lines: dict[Path, set[int]]  # the rewritten lines of each file, before
    named: tuple[tuple[str, int, int, str], ...]  # (file, first line, last line, name) of each rewritten function
    after: tuple[tuple[str, int, int], ...]  # the same functions in the batch's rendering

    @property
    def before(self) -> tuple[tuple[str, int, int], ...]:
        """(file, first line, last line) of each rewritten function, before."""
        return tuple(s[:3] for s in self.named)


def _spans(src: SourceFile, offsets: Sequence[int]) -> list[tuple[str, int, int, str]]:
    out = []
    for offset in offsets:
        fn = enclosing(node_at(src, offset), *FUNCTION_TYPES[:2])
        if fn is not None:
            span = (str(src.path), fn.start_point[0] + 1, fn.end_point[0] + 1, function_name(src, fn))
            out.append(span)
    return out


def _in_body(src: SourceFile, offset: int) -> bool:
    fn = enclosing(node_at(src, offset), *FUNCTION_TYPES[:2])
    body = fn.child_by_field_name("body") if fn is not None else None
    return body is not None and body.start_byte < offset < body.end_byte


def _target(p: Proposal, sources: Mapping[Path, SourceFile], rendered: Mapping[Path, SourceFile]) -> _Target:
    lines: dict[Path, set[int]] = {}
    before: list[tuple[str, int, int, str]] = []
    for path in sorted({path for path, _ in p.touched()}):
        src = sources[path]
        # Only edits inside functions run: a declaration added at the top level has no coverage of its own.
        starts = [start for at, start in p.touched() if at == path and _in_body(src, start)]
        lines[path] = {src.line_of(s) for s in starts}
        before += _spans(src, starts)
    return _Target(lines, tuple(before), _after(before, sources, rendered))


def _after(
    before: Sequence[tuple[str, int, int, str]],
    sources: Mapping[Path, SourceFile],
    rendered: Mapping[Path, SourceFile],
) -> tuple[tuple[str, int, int], ...]:
    """Where each rewritten function is in `rendered`, the files the after side was profiled with.

    Each rendering has its own lines: one rewrite alone may turn `import "fmt"` into an import
    block that the batch does not, so spans from one rendering never count another's samples.
    """
    after: list[tuple[str, int, int]] = []
    for file, a, b, name in before:
        old, new = sources[Path(file)], rendered.get(Path(file))
        if new is None:
            after.append((file, a, b))
            continue
        # The n-th function of that name before is the n-th after (several `init`s in a file).
        same = [n for n in old.root.named_children if n.type in FUNCTION_TYPES[:2] and function_name(old, n) == name]
        index = next((i for i, n in enumerate(same) if n.start_point[0] + 1 == a), 0)
        news = [n for n in new.root.named_children if n.type in FUNCTION_TYPES[:2] and function_name(new, n) == name]
        fn = news[index] if index < len(news) else None
        after.append((file, fn.start_point[0] + 1, fn.end_point[0] + 1) if fn is not None else (file, a, b))
    return tuple(after)


# What a sync.Pool's New or a sync.Once makes is made once and reused, not made per call: the first
# fmt.Sprintf of a test binary fills fmt's printer pool, which no later call pays again. Likewise
# the runtime's goroutine records, which `go` statements reuse when the scheduler has one free.
_AMORTIZED = ("sync.(*Pool).", "sync.(*Once).", "sync.OnceFunc", "sync.OnceValue", "runtime.newproc", "runtime.malg")


def _through(sample: Sample, spans: Sequence[tuple[str, int, int]]) -> bool:
    if any(func.startswith(_AMORTIZED) for func, _, _ in sample.frames):
        return False
    return any(f == path and a <= line <= b for _, f, line in sample.frames for path, a, b in spans)


def _runners(sample: Sample) -> list[str]:
    names = [m.group(1) for func, _, _ in sample.frames if (m := _RUNNER.search(func))]
    return names[-1:]  # the outermost: a test that calls a helper named TestX is still one test


def _names_any(samples: Sequence[Sample], dirs: set[str]) -> bool:
    """Whether a profile names any file of these directories (-trimpath would make every count 0)."""
    return any(str(Path(f).parent) in dirs for s in samples for _, f, _ in s.frames)
