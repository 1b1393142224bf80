"""One site, several rewrites: identical edits are judged once, and of overlapping verified ones
the one that saves more stays while the other is superseded (engine.choice)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from goescape.engine.choice import choose, into_rounds
from goescape.engine.edits import Edit
from goescape.engine.proposals import Proposal
from goescape.engine.results import Measurement, Rejected, Stage, Verified

FILE = Path("/m/p.go")


def _proposal(codemod: str, start: int, end: int, new: bytes = b"x") -> Proposal:
    return Proposal(codemod, "m", FILE, 3, "F", (Edit(FILE, start, end, new),), (), "why")


def _verified(p: Proposal, before: float, after: float) -> Verified:
    measured = Measurement("BenchmarkF", "p.go:3", "F", 0, (before, after), None, True, "go1.26.8")
    return Verified(p, (), ("build", "escape", "allocs"), measurement=measured)


def test_identical_edits_are_one_and_overlaps_go_to_later_rounds() -> None:
    sprint, twin = _proposal("sprint", 10, 20), _proposal("write-string", 10, 20)
    appendf, apart = _proposal("appendf", 15, 25, b"y"), _proposal("prealloc", 40, 50)
    results, rounds = into_rounds([sprint, twin, appendf, apart], lambda p: "")
    assert [(r.proposal, r.stage) for r in results if isinstance(r, Rejected)] == [(twin, Stage.SUPERSEDED)]
    assert "the same edit as sprint p.go:3 F" in results[0].reason
    assert rounds == [[sprint, apart], [appendf]]


def test_the_larger_saving_wins_and_the_other_is_superseded() -> None:
    sprint, appendf = _proposal("sprint", 10, 20), _proposal("appendf", 15, 25, b"y")
    asked: list[Sequence[Proposal]] = []

    def confirms(ps: Sequence[Proposal]) -> bool:
        asked.append(ps)
        return True

    chosen = choose([[_verified(sprint, 90, 89)], [_verified(appendf, 90, 88)]], confirms)
    assert [r.proposal for r in chosen if isinstance(r, Verified)] == [appendf]
    loser = next(r for r in chosen if isinstance(r, Rejected))
    assert loser.proposal == sprint and loser.stage == Stage.SUPERSEDED
    assert loser.reason.startswith("superseded by appendf p.go:3 F") and "90 → 88" in loser.reason
    assert asked == [[appendf]], "a set mixed from two rounds is checked together once"
    # A tie keeps the first round's rewrite, and then nothing mixed needs confirming.
    tie = choose([[_verified(sprint, 90, 88)], [_verified(appendf, 90, 88)]], confirms)
    assert [r.proposal for r in tie if isinstance(r, Verified)] == [sprint] and len(asked) == 1


def test_a_mixed_set_that_fails_together_keeps_the_first_round() -> None:
    sprint, appendf = _proposal("sprint", 10, 20), _proposal("appendf", 15, 25, b"y")
    chosen = choose([[_verified(sprint, 90, 89)], [_verified(appendf, 90, 88)]], lambda ps: False)
    assert [r.proposal for r in chosen if isinstance(r, Verified)] == [sprint]
    later = next(r for r in chosen if r.proposal == appendf)
    assert isinstance(later, Rejected) and later.stage == Stage.SUPERSEDED and "do not pass together" in later.reason
