"""Choosing among rewrites of one site: the one that saves more stays, the other is superseded.

Verification runs in rounds, each free of overlapping proposals (the first come in the first
round). Where verified rewrites of two rounds overlap, the larger measured saving wins, then the
one that removes more escapes, then the earlier; a set mixed from several rounds must still pass
together, or the first round's results stand.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from goescape.engine.edits import EditIndex, overlaps
from goescape.engine.proposals import Proposal
from goescape.engine.results import Rejected, Stage, Verified


def into_rounds(
    proposals: Sequence[Proposal], render_error: Callable[[Proposal], str]
) -> tuple[list[Verified | Rejected], list[list[Proposal]]]:
    """Proposals that cannot render, or repeat an earlier one's edits, judged at once; the rest in
    rounds holding no two overlapping proposals, the first come in the first round."""
    results: list[Verified | Rejected] = []
    kept: dict[tuple[object, ...], Proposal] = {}  # by edits and imports: a twin is found by lookup
    for p in proposals:
        twin = kept.get((p.edits, p.add_imports))
        if error := render_error(p):
            results.append(Rejected(p, Stage.RENDER, error))
        elif twin is not None:
            results.append(Rejected(p, Stage.SUPERSEDED, f"the same edit as {twin.title()}, judged there"))
        else:
            kept[(p.edits, p.add_imports)] = p
    rounds: list[tuple[list[Proposal], EditIndex]] = []
    for p in kept.values():
        home = next((r for r in rounds if not r[1].overlaps(p)), None)
        if home is None:
            home = ([], EditIndex())
            rounds.append(home)
        home[0].append(p)
        home[1].add(p)
    return results, [r for r, _ in rounds]


def _saving(result: Verified | Rejected) -> tuple[int, float, int]:
    """How much a verified rewrite saves, to choose among overlapping ones: measured first, then escapes."""
    if not isinstance(result, Verified):
        return (-1, 0.0, 0)
    m = result.measurement
    measured = (m.allocs[0] - m.allocs[1]) if m is not None else 0.0
    return (1 if m is not None else 0, measured, len(result.removed))


def choose(
    rounds: Sequence[Sequence[Verified | Rejected]], confirms: Callable[[Sequence[Proposal]], bool]
) -> list[Verified | Rejected]:
    """The results of several rounds of verification, each round free of overlaps: where verified
    rewrites of two rounds overlap, the one that saves more stays and the other is superseded;
    a set mixed from several rounds must still build and test together, or the first round's stands."""
    if len(rounds) <= 1:
        return [r for round_ in rounds for r in round_]
    winners: list[Verified | Rejected] = list(rounds[0])
    losers: list[Verified | Rejected] = []
    for later in rounds[1:]:
        for result in later:
            rivals = [w for w in winners if isinstance(w, Verified) and overlaps(w.proposal, result.proposal)]
            if not isinstance(result, Verified) or any(_saving(r) >= _saving(result) for r in rivals):
                beaten = next((r for r in rivals if _saving(r) >= _saving(result)), None)
                losers.append(
                    _superseded(result, beaten) if beaten is not None and isinstance(result, Verified) else result
                )
                continue
            winners = [w for w in winners if w not in rivals] + [result]
            losers += [_superseded(r, result) for r in rivals]
    mixed = [w.proposal for w in winners if isinstance(w, Verified)]
    if any(isinstance(w, Verified) and w not in rounds[0] for w in winners) and not confirms(mixed):
        return list(rounds[0]) + [
            _superseded(r, None) if isinstance(r, Verified) else r for later in rounds[1:] for r in later
        ]
    return winners + losers


def _superseded(result: Verified | Rejected, by: Verified | None) -> Rejected:
    p = result.proposal
    if by is None:
        return Rejected(
            p, Stage.SUPERSEDED, "overlaps another rewrite of this site, and the verified ones do not pass together"
        )
    mine = result.allocs_text() if isinstance(result, Verified) else ""
    return Rejected(
        p,
        Stage.SUPERSEDED,
        f"superseded by {by.proposal.title()}, which saves at least as much ({by.allocs_text()}; this: {mine})",
    )
