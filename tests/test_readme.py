"""The README's codemod table is generated from the codemods' docstrings and must not go stale."""

from __future__ import annotations

from goescape.engine import readme
from goescape.engine.codemod import load_codemods

from .conftest import ROOT


def test_codemod_table_is_current(update_golden: bool) -> None:
    text = (ROOT / "README.md").read_text()
    fresh = readme.replace_codemod_table(text, readme.codemod_markdown(load_codemods()))
    if update_golden:
        (ROOT / "README.md").write_text(fresh)
        return
    assert text == fresh, "README codemod table is stale: run `python -m pytest --update-golden`"


def test_every_codemod_documents_itself() -> None:
    for codemod in load_codemods():
        assert codemod.summary.endswith("."), f"{codemod.name}: docstring's first line is one sentence"
        assert "Before:" in codemod.doc and "After:" in codemod.doc, f"{codemod.name}: docstring shows before/after"


def test_every_codemod_has_a_changing_and_an_unchanged_golden_case() -> None:
    for codemod in load_codemods():
        cases = list((ROOT / "golden" / codemod.name).glob("*.txtar"))
        changing = [c for c in cases if "\n-- expected" in c.read_text()]
        assert len(cases) >= 6, f"{codemod.name}: at least 6 golden cases"
        assert changing, f"{codemod.name}: a case it changes"
        assert len(changing) < len(cases), f"{codemod.name}: a case it must leave alone"
