"""Interactive review of verified rewrites (`fix --interactive`): the only module that imports questionary."""

from __future__ import annotations

import enum
import itertools
import os
import shlex
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import questionary

from goescape.engine.console import Console, Text
from goescape.engine.diffs import LineMatcher, colour, display_path
from goescape.engine.edits import Edit, overlaps
from goescape.engine.errors import GoescapeError
from goescape.engine.proposals import Proposal
from goescape.engine.results import Rejected, Verified


class Action(enum.StrEnum):
    ACCEPT = "accept"
    SKIP = "skip"
    ACCEPT_ALL = "accept all remaining of this codemod"
    SKIP_ALL = "skip all remaining of this codemod"
    EDIT = "edit in $EDITOR, then verify again"
    EXPLAIN = "explain: the compiler's full escape flow"
    QUIT = "quit, keeping what was accepted"


# The keys of `git add -p` where it has the same choice, so that hands already know them.
KEYS = {
    Action.ACCEPT: "y",
    Action.SKIP: "n",
    Action.ACCEPT_ALL: "a",
    Action.SKIP_ALL: "d",
    Action.EDIT: "e",
    Action.EXPLAIN: "x",
    Action.QUIT: "q",
}


@dataclass(frozen=True)
class Review:
    accepted: tuple[Verified, ...]  # in the order of the items reviewed
    quit_early: bool


def ensure_terminal(input: Any = None, output: Any = None) -> None:
    """Refuse at once without a terminal, instead of hanging on a prompt no one can answer."""
    for name, given, stream in (("stdin", input, sys.stdin), ("stdout", output, sys.stdout)):
        if given is None and (stream is None or not stream.isatty()):
            raise GoescapeError(
                f"--interactive needs a terminal: {name} is not one",
                hint="run it in a terminal, or drop --interactive to print the diff or --write it",
            )


def review(
    items: Sequence[Verified],
    *,
    diff_of: Callable[[Proposal], str],
    proposed_text: Callable[[Proposal], bytes],
    reverify: Callable[[Proposal], Verified | Rejected],
    cwd: Path,
    input: Any = None,
    output: Any = None,
    console: Any = None,
) -> Review:
    """Ask about each verified rewrite in turn; nothing is written here, the caller writes what was accepted."""
    ensure_terminal(input, output)
    out: Console = console if console is not None else Console()
    files = {path for v in items for path in v.proposal.files}
    out.print(
        f"{_count(len(items), 'verified rewrite')} in {_count(len(files), 'file')} to review",
        markup=False,
        highlight=False,
    )
    accepted: list[Verified] = []
    decided: dict[str, Action] = {}  # codemod → ACCEPT_ALL or SKIP_ALL
    quit_early = False
    for index, item in enumerate(items, 1):
        current = item
        action = decided.get(current.proposal.codemod)
        if quit_early:
            # "Accept all of this codemod" was the user's decision for the rest of it: quitting keeps it.
            action = Action.ACCEPT if action is Action.ACCEPT_ALL else Action.SKIP
        while action is None:
            _screen(out, current, f"{index}/{len(items)}", diff_of(current.proposal), cwd)
            choice = _ask(input, output)
            if choice is Action.EXPLAIN:
                _explain(out, current, cwd)
            elif choice is Action.EDIT:
                current = _edit(out, current, proposed_text, reverify)
            elif choice is Action.QUIT:
                quit_early, action = True, Action.SKIP
            else:
                action = choice
                if choice in (Action.ACCEPT_ALL, Action.SKIP_ALL):
                    decided[current.proposal.codemod] = choice
        if action in (Action.ACCEPT, Action.ACCEPT_ALL):
            clash = next((a for a in accepted if overlaps(a.proposal, current.proposal)), None)
            if clash is None:
                accepted.append(current)
            else:
                # Only an edited rewrite can overlap another: the verifier already kept the originals apart.
                out.print(f"skipped: it overlaps {clash.proposal.title()}, accepted before", markup=False)
    _summary(out, accepted, len(items), quit_early)
    return Review(tuple(accepted), quit_early)


def _ask(input: Any, output: Any) -> Action:
    choices = [questionary.Choice(action.value, action, shortcut_key=KEYS[action]) for action in Action]
    question = questionary.select(
        "what to do with it?", choices=choices, use_shortcuts=True, use_jk_keys=False, input=input, output=output
    )
    try:
        answer = question.unsafe_ask()
    except KeyboardInterrupt:
        return Action.QUIT  # Ctrl-C in a prompt: stop asking, keep what was accepted
    return Action(answer) if answer is not None else Action.QUIT


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _where(path: Path, line: int, cwd: Path) -> str:
    return f"{display_path(path, cwd)}:{line}"


def _screen(out: Console, v: Verified, position: str, diff: str, cwd: Path) -> None:
    p = v.proposal
    out.rule(f"{position} {p.codemod}", style="bold")
    out.print(f"{_where(p.path, p.line, cwd)} in {p.function}: {p.rationale}", markup=False, highlight=False)
    for t in p.targets:
        after = "gone" if t in v.removed else "still reported; the proof is fewer allocs/op at run time"
        out.print(f"  before  {_where(t.path, t.line, cwd)}:{t.column}: {t.message}", markup=False, highlight=False)
        out.print(f"  after   {after}", markup=False, highlight=False)
    out.print(f"  {v.allocs_text()}", markup=False, highlight=False)
    out.print(Text.from_ansi(colour(diff)), end="")


def _explain(out: Console, v: Verified, cwd: Path) -> None:
    for t in v.proposal.targets:
        out.print(f"{_where(t.path, t.line, cwd)}:{t.column}: {t.message}", markup=False, highlight=False)
        for step in t.flow or ("(the compiler printed no flow for this escape)",):
            out.print(f"    {step}", markup=False, highlight=False)


def _edit(
    out: Console,
    v: Verified,
    proposed_text: Callable[[Proposal], bytes],
    reverify: Callable[[Proposal], Verified | Rejected],
) -> Verified:
    """Open $EDITOR on the proposed file; the edited text replaces the proposal if it verifies."""
    p = v.proposal
    proposed = proposed_text(p)
    editor = os.environ.get("EDITOR") or "vi"
    with tempfile.TemporaryDirectory(prefix="goescape-edit-") as folder:
        draft = Path(folder) / p.path.name  # the real name, so the editor knows it is Go
        draft.write_bytes(proposed)
        try:
            status = subprocess.run([*shlex.split(editor), str(draft)], check=False).returncode
        except OSError as exc:
            out.print(f"cannot run {editor!r}: {exc.strerror}", markup=False)
            return v
        edited = draft.read_bytes()
    if status != 0 or edited == proposed:
        out.print(f"{editor} exited with status {status}" if status else "no change made", markup=False)
        return v
    changed = replace(
        p,
        # The edited text is final (imports and all) for this file; other files keep their edits.
        edits=(*_hunks(p.path, p.path.read_bytes(), edited), *(e for e in p.edits if e.path != p.path)),
        add_imports=tuple(i for i in p.add_imports if i[0] != p.path),
        drop_imports=tuple(i for i in p.drop_imports if i[0] != p.path),
    )
    result = reverify(changed)
    if isinstance(result, Rejected):
        out.print(f"the edited rewrite was rejected ({result.stage.value}): {result.reason}", markup=False)
        return v
    out.print("the edited rewrite verifies", markup=False)
    return result


def _hunks(path: Path, old: bytes, new: bytes) -> tuple[Edit, ...]:
    """Edits turning `old` into `new`, one per changed run of lines.

    Not one edit over the whole file: each edit then sits in the function it changes, where the
    verifier looks to pin an added escape on it, and other accepted rewrites of the file still apply.
    """
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    at_a, at_b = [0, *itertools.accumulate(map(len, a))], [0, *itertools.accumulate(map(len, b))]
    runs: list[list[int]] = []
    for tag, i1, i2, j1, j2 in LineMatcher(a, b).get_opcodes():
        if tag == "equal":
            continue
        if runs and runs[-1][1] == i1:  # a deletion next to an insertion: one edit, never two at one offset
            runs[-1][1], runs[-1][3] = i2, j2
        else:
            runs.append([i1, i2, j1, j2])
    return tuple(Edit(path, at_a[i1], at_a[i2], new[at_b[j1] : at_b[j2]]) for i1, i2, j1, j2 in runs)


def _summary(out: Console, accepted: Sequence[Verified], total: int, quit_early: bool) -> None:
    per = Counter(v.proposal.codemod for v in accepted)
    detail = ", ".join(f"{name} {n}" for name, n in per.items())
    tail = " (quit early)" if quit_early else ""
    out.print(f"accepted {len(accepted)} of {total}{': ' + detail if detail else ''}{tail}", markup=False)
