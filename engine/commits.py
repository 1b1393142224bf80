"""Commits: verified rewrites grouped into commits, each with its subject, evidence table and trailers."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from goescape.engine.errors import GoescapeError
from goescape.engine.git import _relative, repository_top
from goescape.engine.proposals import Proposal
from goescape.engine.request import GROUPINGS
from goescape.engine.results import Verified

SUBJECT_LIMIT = 72


@dataclass(frozen=True)
class CommitGroup:
    """One commit: its message parts and the full new contents of the files it changes."""

    subject: str
    body: str  # the evidence table, plain text
    trailers: tuple[tuple[str, str], ...]
    files: dict[Path, bytes]  # absolute path in the user's work tree -> new content

    def message(self) -> str:
        trailers = "\n".join(f"{key}: {value}" for key, value in self.trailers)
        return f"{self.subject}\n\n{self.body.rstrip()}\n\n{trailers}\n"


def _fit(subject: str) -> str:
    return subject if len(subject) <= SUBJECT_LIMIT else subject[: SUBJECT_LIMIT - 1] + "…"


def _where(proposal: Proposal, top: Path | None) -> str:
    path = proposal.path.parent.resolve() / proposal.path.name
    shown = path.relative_to(top).as_posix() if top is not None and path.is_relative_to(top) else str(path)
    return f"{shown}:{proposal.line}"


def _table(verified: Sequence[Verified], top: Path | None) -> str:
    rows = [("file:line", "function", "escape removed", "allocations")]
    for r in verified:
        gone = "; ".join(fact.message for fact in r.removed) or "proof at run time"
        rows.append((_where(r.proposal, top), r.proposal.function, gone, r.allocs_text()))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    table = "\n".join(
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[3]]) for row in rows
    )
    differ = [r.proposal for r in verified if r.proposal.equivalence]
    if not differ:
        return table + "\n\nEach rewrite is equivalent for every input."
    notes = "\n".join(f"- {_where(p, top)}: {p.equivalence}" for p in differ)
    return f"{table}\n\nNot equivalent for every input:\n{notes}"


def _subject(by: str, verified: Sequence[Verified], top: Path | None) -> str:
    first = verified[0].proposal
    if by == "package":
        return _fit(f"goescape: {first.package}")
    if by == "rewrite":
        return _fit(f"goescape: {first.codemod} {first.function} ({_where(first, top)})")
    functions = len({(r.proposal.path, r.proposal.function) for r in verified})
    return _fit(f"goescape: {first.codemod} in {functions} function{'s' if functions != 1 else ''}")


def group_results(
    verified: Sequence[Verified],
    contents: Callable[[Sequence[Proposal]], dict[Path, bytes]],
    by: str,
    go_version: str,
    command: str,
) -> list[CommitGroup]:
    """Verified rewrites as commits, one per codemod, package or rewrite, in the order they came.

    `contents(proposals)` renders the new full contents of the files those proposals touch; it is
    given every proposal up to and including a group's, so each commit builds on the ones before.
    """
    if by not in GROUPINGS:
        raise GoescapeError(f"cannot make one commit per {by!r}", hint="choose " + ", ".join(GROUPINGS))
    buckets: dict[str, list[Verified]] = {}
    for i, r in enumerate(verified):
        key = {"codemod": r.proposal.codemod, "package": r.proposal.package}.get(by, str(i))
        buckets.setdefault(key, []).append(r)
    try:
        top: Path | None = repository_top(verified[0].proposal.path.parent) if verified else None
    except GoescapeError:
        top = None  # create_branch says so; here paths are merely shown in full
    groups: list[CommitGroup] = []
    so_far: list[Proposal] = []
    for bucket in buckets.values():
        so_far += [r.proposal for r in bucket]
        touched = {path for r in bucket for path in r.proposal.files | {p for p, _ in r.proposal.add_imports}}
        codemods = ", ".join(dict.fromkeys(r.proposal.codemod for r in bucket))
        trailers = (("Goescape-Codemod", codemods), ("Goescape-Go-Version", go_version), ("Goescape-Command", command))
        files = {path: data for path, data in contents(tuple(so_far)).items() if path in touched}
        groups.append(CommitGroup(_subject(by, bucket, top), _table(bucket, top), trailers, files))
    return groups


def guard_commit(files: Mapping[Path, bytes], go_version: str, command: str) -> CommitGroup:
    """The last commit of a --guard branch: the guard tests, after the rewrites they lock in."""
    try:
        top: Path | None = repository_top(next(iter(files)).parent)
    except GoescapeError:
        top = None
    names = "\n".join(f"- {_relative(p, top) if top else p}" for p in sorted(files))
    body = (
        "Each test runs the test or benchmark that measured a rewrite under testing.AllocsPerRun and\n"
        "fails when it allocates more than it did with the rewrite.\n\n" + names
    )
    trailers = (("Goescape-Codemod", "guard"), ("Goescape-Go-Version", go_version), ("Goescape-Command", command))
    return CommitGroup(f"goescape: guard tests for the rewrites ({len(files)} file(s))", body, trailers, dict(files))
