"""What the runner returns for each proposal: verified, rejected or skipped, as frozen values."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from goescape.engine.codemod import Proposal, Skip
from goescape.engine.facts import EscapeFact
from goescape.engine.measure import Measurement


class Stage(enum.StrEnum):
    """The check a rejected proposal failed, in the order they run."""

    RENDER = "render"
    BUILD = "build"
    ESCAPE = "escape"
    VET = "vet"
    TEST = "test"
    ALLOCS = "allocs"
    SUPERSEDED = "superseded"  # the same edit as another proposal's, or one that saves less at the same site


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

    Measured: verified when it saves, rejected with the figures when not. Not measured: verified
    on the compiler's evidence when its proof is the escape; rejected as unproven when only
    fewer allocations at run time could prove it.
    """
    if isinstance(measured, Measurement):
        if measured.saves:
            return Verified(p, gone, (*checks, "allocs"), measurement=measured)
        return Rejected(p, Stage.ALLOCS, f"{measured.text()}: it saves nothing")
    if p.proof == "runtime":
        why = f"unproven: only fewer allocations at run time prove it, and {measured}; left out of the diff"
        return Rejected(p, Stage.ALLOCS, why)
    return Verified(p, gone, checks, unmeasured=measured)
