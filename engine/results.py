"""What the runner returns for each proposal: verified, rejected or skipped, as frozen values."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass

from goescape.engine.errors import BaselineTestsFail
from goescape.engine.facts import EscapeFact
from goescape.engine.proposals import Proposal, Skip

# How verification words the rejection of a rewrite whose tests failed before any rewrite.
BASELINE_TESTS_FAIL = "the tests in scope already fail without any rewrite"


class Level(enum.StrEnum):
    """How far verification goes: each level runs the ones before it too."""

    BUILD = "build"  # the rewrite compiles and the targeted escapes are gone, none new
    VET = "vet"  # and go vet is as quiet as before
    TEST = "test"  # and the packages' and their importers' tests pass


LEVELS = tuple(level.value for level in Level)


class Stage(enum.StrEnum):
    """The check a rejected proposal failed, in the order they run."""

    RENDER = "render"
    BUILD = "build"
    ESCAPE = "escape"
    VET = "vet"
    TEST = "test"
    ALLOCS = "allocs"
    SUPERSEDED = "superseded"  # the same edit as another proposal's, or one that saves less at the same site


def fewer_bytes(before: float, after: float) -> bool:
    """Whether B/op fell by at least 1% and 8 bytes (the smallest size class: less than that per op
    is another goroutine's allocation spread over the run)."""
    return before - after >= max(8.0, 0.01 * before)


@dataclass(frozen=True)
class Measurement:
    """Allocations a rewrite's function makes, before and after, in runs of the code's own tests.

    From a benchmark (`benchmark` True): `allocs` is allocs/op and `bytes` B/op, from -benchmem.
    From tests: `allocs` is the allocations whose stacks pass through the rewritten functions,
    per execution of the rewritten line (`executions` times in all, by coverage).
    """

    by: str  # the test or benchmark functions that ran it, or "the tests of PKG"
    where: str  # the rewritten line, file:line
    function: str
    executions: int
    allocs: tuple[float, float]
    bytes: tuple[float, float] | None = None
    benchmark: bool = False
    toolchain: str = ""
    benchmark_runs: int = 0  # executions of the line in one pass of the benchmarks (-benchtime=1x), by coverage
    complete: bool = True  # every allocation sampled: false when the tiny allocator could not be turned off

    @property
    def saves(self) -> bool:
        """Fewer allocations; or as many, and fewer bytes by at least 1% and 8 bytes (the smallest
        size class: less than that per op is another goroutine's allocation spread over the run)."""
        if self.allocs[1] != self.allocs[0]:
            return self.allocs[1] < self.allocs[0]
        return self.bytes is not None and fewer_bytes(*self.bytes)

    def text(self) -> str:
        on = f" ({self.toolchain})" if self.toolchain else ""
        if self.benchmark:
            spent = f", B/op {self.bytes[0]:,.0f} → {self.bytes[1]:,.0f}" if self.bytes else ""
            return f"allocs/op {self.allocs[0]:g} → {self.allocs[1]:g}{spent} in {self.by}{on}"
        times = "once" if self.executions == 1 else f"{self.executions:,} times"
        return (
            f"allocs in {self.function} {self.allocs[0]:.3g} → {self.allocs[1]:.3g} per run of {self.where} "
            f"in {self.by}, which runs it {times}{on}; {self.reach()}"
        )

    def reach(self) -> str:
        """Whether the package's benchmarks run the rewritten line, and how often per pass."""
        if not self.benchmark_runs:
            return "no benchmark runs it"
        times = "once" if self.benchmark_runs == 1 else f"{self.benchmark_runs:,} times"
        return f"its benchmarks run it {times} per pass"


@dataclass(frozen=True)
class Verified:
    proposal: Proposal
    removed: tuple[EscapeFact, ...]  # the targeted escapes, gone after the rewrite
    checks: tuple[str, ...]  # what ran: build, escape, vet, platforms, test (with the packages tested), allocs
    measurement: Measurement | None = None  # allocations before and after, from the code's own tests
    unmeasured: str = ""  # why allocations could not be measured

    def allocs_text(self) -> str:
        if self.measurement is None:
            return f"not measured: {self.unmeasured}" if self.unmeasured else "not measured"
        return self.measurement.text()


@dataclass(frozen=True)
class Rejected:
    proposal: Proposal
    stage: Stage
    reason: str  # one line a person can act on
    details: str = ""  # the compiler's or the test's own words


@dataclass(frozen=True)
class Skipped:
    skip: Skip


Result = Verified | Rejected | Skipped


def verdict(
    p: Proposal, measured: Measurement | str, gone: tuple[EscapeFact, ...], checks: tuple[str, ...]
) -> Verified | Rejected:
    """A proposal that passed every check, judged by its run-time measurement (or why there is none).

    Measured: verified when it saves, rejected with the figures when not; a run in which nothing
    allocates before or after did not exercise the allocation and counts as not measured, and so
    does a test run whose heap profile missed tiny allocations (`complete` False) and counts as many
    after as before (only a benchmark then proves "saves nothing"; more after is still a rejection). Not
    measured: verified on the compiler's evidence when its proof is the escape; rejected as
    unproven when only fewer allocations at run time could prove it.
    """
    if isinstance(measured, Measurement) and measured.saves:
        return Verified(p, gone, (*checks, "allocs"), measurement=measured)
    if isinstance(measured, Measurement) and not measured.complete and measured.allocs[0] == measured.allocs[1] > 0:
        # Without the measuring runtime the profile misses what the tiny allocator packs into an
        # open block, so equal counts do not show that it saves nothing.
        measured = (
            f"{measured.text()}, and this toolchain's heap profile cannot see allocations under 16 B without "
            "pointers, which the runtime packs into one block, so only a benchmark (-benchmem) can show that it saves nothing"
        )
    elif isinstance(measured, Measurement) and measured.allocs != (0.0, 0.0):
        return Rejected(p, Stage.ALLOCS, f"{measured.text()}: it saves nothing")
    if isinstance(measured, Measurement):
        # The run reached the rewrite but nothing allocated there either way (a caller inlined it
        # and kept the value on its stack): the allocation the compiler reports was not exercised.
        measured = f"{measured.by} ran {measured.where}, but nothing allocated there before or after"
    if p.proof == "runtime":
        why = f"unproven: only fewer allocations at run time prove it, and {measured}; left out of the diff"
        return Rejected(p, Stage.ALLOCS, why)
    return Verified(p, gone, checks, unmeasured=measured)


def refuse_failing_baseline(results: Iterable[Result]) -> None:
    """Refuse, as a BaselineTestsFail, a fix that verified nothing because the tests in scope fail
    before any rewrite: every proposal saying so would hide that nothing was ever judged.
    A run that verified some rewrites is reported as usual, those rejections among its results."""
    listed = list(results)
    if any(isinstance(r, Verified) for r in listed):
        return
    failed = [
        r
        for r in listed
        if isinstance(r, Rejected) and r.stage is Stage.TEST and r.reason.startswith(BASELINE_TESTS_FAIL)
    ]
    if not failed:
        return
    details = "\n".join(r.details for r in failed)
    # `go test` ends each failing package with "FAIL\t<import path>\t<time>" (or "[build failed]").
    packages = sorted({m.group(1) for m in re.finditer(r"^FAIL[ \t]+(\S+)", details, re.MULTILINE)})
    first = next((ln.strip() for ln in details.splitlines() if ln.startswith(("--- FAIL", "panic:"))), "")
    raise BaselineTestsFail(packages or sorted({r.proposal.package for r in failed}), failure=first)
