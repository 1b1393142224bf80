"""fix --interactive's review: the real questionary prompts driven through prompt_toolkit's pipe input."""

from __future__ import annotations

import io
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from rich.console import Console

from goescape.engine.codemod import Options, load_codemods
from goescape.engine.diffs import unified_diff
from goescape.engine.edits import apply_edits, render_file
from goescape.engine.errors import GoescapeError
from goescape.engine.proof import verifier_for, verify
from goescape.engine.proposals import Proposal
from goescape.engine.results import Rejected, Verified
from goescape.engine.review import Review, review
from goescape.engine.session import Session, load, propose
from goescape.engine.toolchain import Toolchain
from goescape.engine.verify import Verifier

from .conftest import ROOT

# Each key moves the pointer to its choice and Enter takes it, as a person would.
ACCEPT, SKIP, ACCEPT_ALL, SKIP_ALL, EDIT, EXPLAIN, QUIT = "y\r", "n\r", "a\r", "d\r", "e\r", "x\r", "q\r"


@dataclass
class Examples:
    session: Session
    items: list[Verified]  # two return-value (main.go, shop.go), then three sprint (shop.go)


@pytest.fixture(scope="module")
def examples(toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory) -> Examples:
    """Real verified rewrites of examples/ (build level, unmeasured: the review needs no more)."""
    root = tmp_path_factory.mktemp("review") / "examples"
    shutil.copytree(ROOT / "examples", root)
    session = load(toolchain, ("./...",), root)
    # The two codemods whose rewrites these tests walk through, in their order.
    proposals = propose(session, [c for c in load_codemods() if c.name in ("return-value", "sprint")], Options())
    results = verify(session, proposals, "build", measure=False).results
    verified = [r for r in results if isinstance(r, Verified)]
    # go/types knows Describe's argument is an int, so sprint takes it too; these tests walk the
    # other five, whose screens they spell out.
    assert next(v.proposal.function for v in verified if v.proposal.codemod == "sprint") == "Describe"
    items = [v for v in verified if v.proposal.function != "Describe"]
    assert [v.proposal.codemod for v in items] == ["return-value"] * 2 + ["sprint"] * 3
    return Examples(session, items)


def _new_text(session: Session, p: Proposal) -> bytes:
    new, error = render_file(session.tc, session.sources[p.path], [p])
    assert not error
    return new


def _diff(session: Session, p: Proposal) -> str:
    return unified_diff(p.path, session.sources[p.path].data, _new_text(session, p), session.cwd)


@dataclass
class Run:
    result: Review
    screen: str
    reverified: list[Proposal]


@pytest.fixture
def fresh_verifier(examples: Examples) -> Iterator[Verifier]:
    """A verifier per test: it caches renders by proposal id, and edited proposals come and go."""
    s = examples.session
    verifier = verifier_for(s, "build")
    verifier.measure = False
    yield verifier
    verifier.close()


def _review(
    examples: Examples, keys: str, verifier: Verifier | None = None, items: list[Verified] | None = None
) -> Run:
    session, screen, reverified = examples.session, io.StringIO(), []

    def reverify(p: Proposal) -> Verified | Rejected:
        reverified.append(p)
        assert verifier is not None, "no edit expected"
        return verifier.verify([p])[0]

    with create_pipe_input() as pipe:
        pipe.send_text(keys)
        pipe.close()  # keys that run out end in EOFError instead of a prompt waiting forever
        result = review(
            examples.items if items is None else items,
            diff_of=lambda p: _diff(session, p),
            proposed_text=lambda p: _new_text(session, p),
            reverify=reverify,
            cwd=session.cwd,
            input=pipe,
            output=DummyOutput(),
            console=Console(file=screen, force_terminal=False, width=200),
        )
    return Run(result, screen.getvalue(), reverified)


def test_accept_skip_quit_keeps_exactly_what_was_accepted(examples: Examples) -> None:
    run = _review(examples, ACCEPT + SKIP + QUIT)
    first = examples.items[0]
    assert run.result == Review((first,), quit_early=True)
    assert run.screen.startswith("5 verified rewrites in 2 files to review\n")
    assert "1/5 return-value" in run.screen and "3/5 sprint" in run.screen and "4/5" not in run.screen
    assert "cmd/shopd/main.go:17 in loadConfig" in run.screen
    assert "before  cmd/shopd/main.go:18:9: &config{...} escapes to heap\n  after   gone" in run.screen
    assert "not measured" in run.screen
    assert "\n-func loadConfig() *config {\n" in run.screen and "\n+func loadConfig() config {\n" in run.screen
    assert run.screen.endswith("accepted 1 of 5: return-value 1 (quit early)\n")


def test_accept_all_of_a_codemod_asks_no_more_about_it(examples: Examples) -> None:
    run = _review(examples, ACCEPT_ALL + SKIP + ACCEPT + SKIP)
    items = examples.items
    assert run.result == Review((items[0], items[1], items[3]), quit_early=False)
    assert "2/5" not in run.screen and "5/5 sprint" in run.screen
    assert run.screen.endswith("accepted 3 of 5: return-value 2, sprint 1\n")


def test_skip_all_of_a_codemod_then_quit_keeps_an_accept_all(examples: Examples) -> None:
    items = examples.items
    run = _review(examples, SKIP_ALL + ACCEPT + QUIT)
    assert run.result == Review((items[2],), quit_early=True)
    assert "2/5" not in run.screen and "4/5" in run.screen
    # Sprint first: accepting all of it, then quitting on a return-value, still keeps every sprint.
    mixed = [items[2], items[0], items[3], items[1], items[4]]
    run = _review(examples, ACCEPT_ALL + QUIT, items=mixed)
    assert run.result == Review((items[2], items[3], items[4]), quit_early=True)


def test_explain_prints_the_compilers_flow_then_asks_again(examples: Examples) -> None:
    run = _review(examples, EXPLAIN + ACCEPT + QUIT)
    assert run.result.accepted == (examples.items[0],)
    assert "    flow: ~r0 ← &{storage for &config{...}}:\n" in run.screen
    assert "    from return &config{...} (return) at cmd/shopd/main.go:18:2\n" in run.screen
    assert run.screen.count("1/5 return-value") == 2


def _editor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    editor = tmp_path / "editor"
    editor.write_text("#!/bin/sh\n" + script)
    editor.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(editor))


def test_edit_reverifies_the_edited_text_and_offers_it(
    examples: Examples, fresh_verifier: Verifier, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _editor(tmp_path, monkeypatch, "printf '\\n// Reviewed by a person.\\n' >> \"$1\"\n")
    sprint = examples.items[2]  # adds strconv and may drop fmt: the edited text must carry both
    run = _review(examples, EDIT + ACCEPT + QUIT, fresh_verifier, items=[sprint, examples.items[3]])
    [edited] = run.reverified
    assert edited.add_imports == () and edited.drop_imports == () and edited.targets == sprint.proposal.targets
    original = sprint.proposal.path.read_bytes()
    expected = _new_text(examples.session, sprint.proposal) + b"\n// Reviewed by a person.\n"
    assert apply_edits(original, edited.edits) == expected
    assert "the edited rewrite verifies" in run.screen and run.screen.count("1/2 sprint") == 2
    [accepted] = run.result.accepted
    assert accepted.proposal == edited and accepted.removed == sprint.removed
    assert "+// Reviewed by a person." in run.screen


def test_a_rejected_edit_returns_to_the_original(
    examples: Examples, fresh_verifier: Verifier, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _editor(tmp_path, monkeypatch, 'printf \'\\nvar _ int = "x"\\n\' >> "$1"\n')
    run = _review(examples, EDIT + ACCEPT + QUIT, fresh_verifier)
    assert len(run.reverified) == 1
    assert "the edited rewrite was rejected (build): does not build:" in run.screen
    assert run.result.accepted == (examples.items[0],)


def test_an_edit_reaching_into_another_rewrite_keeps_the_first_accepted(
    examples: Examples, fresh_verifier: Verifier, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _editor(tmp_path, monkeypatch, 'sed -i \'s/fmt.Fprintf(w, "%s", name)/fmt.Fprint(w, name)/\' "$1"\n')
    address, write_name = examples.items[2], examples.items[3]
    run = _review(examples, EDIT + ACCEPT + ACCEPT, fresh_verifier, items=[address, write_name])
    assert "the edited rewrite verifies" in run.screen
    assert [v.proposal for v in run.result.accepted] == run.reverified
    assert "skipped: it overlaps sprint shop.go:32 Address, accepted before" in run.screen


def test_an_edit_that_changes_nothing_asks_again(
    examples: Examples, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _editor(tmp_path, monkeypatch, "exit 0\n")
    run = _review(examples, EDIT + SKIP + QUIT)
    assert "no change made" in run.screen and run.reverified == []
    _editor(tmp_path, monkeypatch, "exit 3\n")
    run = _review(examples, EDIT + QUIT)
    assert "exited with status 3" in run.screen and run.result == Review((), quit_early=True)


def test_ctrl_c_in_a_prompt_quits_and_keeps_what_was_accepted(examples: Examples) -> None:
    run = _review(examples, ACCEPT + "\x03")
    assert run.result == Review((examples.items[0],), quit_early=True)


def _never(p: Proposal) -> Any:
    raise AssertionError("no prompt may be shown without a terminal")


def test_without_a_terminal_it_refuses_in_one_line(examples: Examples, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO())
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    with pytest.raises(
        GoescapeError, match=r"^--interactive needs a terminal: stdin is not one \(run it in a terminal"
    ):
        review(examples.items, diff_of=_never, proposed_text=_never, reverify=_never, cwd=ROOT)
    with create_pipe_input() as pipe, pytest.raises(GoescapeError, match="stdout is not one"):
        review(examples.items, diff_of=_never, proposed_text=_never, reverify=_never, cwd=ROOT, input=pipe)
