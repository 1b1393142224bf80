"""What the runner returns for each proposal: verified, rejected or skipped, as frozen values."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from goescape.engine.codemod import Proposal, Skip
from goescape.engine.facts import EscapeFact


class Stage(enum.StrEnum):
    """The check a rejected proposal failed, in the order they run."""

    RENDER = "render"
    BUILD = "build"
    ESCAPE = "escape"
    VET = "vet"
    TEST = "test"
    ALLOCS = "allocs"


@dataclass(frozen=True)
class Verified:
    proposal: Proposal
    removed: tuple[EscapeFact, ...]  # the targeted escapes, gone after the rewrite
    checks: tuple[str, ...]  # what ran: build, escape, vet, test (with the packages tested)
    allocs: tuple[float, float] | None = None  # allocs/op of the changed function, before and after
    unmeasured: str = ""  # why allocs/op could not be measured

    def allocs_text(self) -> str:
        if self.allocs is None:
            return f"not measured: {self.unmeasured}" if self.unmeasured else "not measured"
        return f"allocs/op {self.allocs[0]:g} → {self.allocs[1]:g} (measured)"


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
