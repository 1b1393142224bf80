"""Proposals: the rewrites a codemod proposes through its pass, and the matches it declines."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from goescape.engine.edits import Edit
from goescape.engine.facts import EscapeFact


@dataclass(frozen=True)
class Proposal:
    """A rewrite a codemod proposes: its edits, the escapes it should remove, and why.

    Built by the engine from what a codemod reports through its Pass (package, file, line and the
    compiler's name of the function are the engine's), never by a codemod.
    """

    codemod: str
    package: str
    path: Path
    line: int
    function: str
    edits: tuple[Edit, ...]
    targets: tuple[EscapeFact, ...]
    rationale: str
    add_imports: tuple[tuple[Path, str], ...] = ()
    # Imports that may become unused; each is dropped only if nothing in its file still uses it.
    drop_imports: tuple[tuple[Path, str], ...] = ()
    api_change: bool = False  # changes an exported signature: importers must build too
    # Regexes for escapes the rewrite is expected to add, each the visible form of an allocation the
    # old code made out of the compiler's sight (a concatenation's result that Sprintf built before).
    allowed_new: tuple[str, ...] = ()
    # The calibration pattern (golden/<codemod>/calibrate/<pattern>.txtar) this rewrite is an instance of.
    pattern: str = ""
    # "escape": the targeted escapes must go. "runtime": they may stay (a preallocated slice still
    # escapes), and only fewer allocations measured at run time prove the rewrite.
    proof: str = "escape"
    # Why the targeted escape may not go on this module, said when it does not (or when there is
    # none): e.g. per-iteration loop variables since Go 1.22.
    if_unproven: str = ""
    # "" when the pattern is equivalent for every input; otherwise when it differs and what
    # proved that it cannot here ("differs when ...; taken because both operands are constants").
    equivalence: str = ""
    # Places outside the edits where the rewrite's effect shows, as (file, byte offset): the
    # allocations of a type whose declaration it reorders, the uses of a var it makes a constant.
    # Their functions are measured and judged as if edited; they overlap no other proposal.
    sites: tuple[tuple[Path, int], ...] = ()

    @property
    def files(self) -> frozenset[Path]:
        return frozenset(e.path for e in self.edits)

    def touched(self) -> tuple[tuple[Path, int], ...]:
        """(file, offset) of every edit's start and every site: where the rewrite acts."""
        return (*((e.path, e.start) for e in self.edits), *self.sites)

    def title(self) -> str:
        return f"{self.codemod} {self.path.name}:{self.line} {self.function}"

    def equivalence_text(self) -> str:
        return self.equivalence or "equivalent for every input"


@dataclass(frozen=True)
class Skip:
    """A match the codemod declined, with the reason a person can act on."""

    codemod: str
    path: Path
    line: int
    function: str
    reason: str
    targets: tuple[EscapeFact, ...] = ()
