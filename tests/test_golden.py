"""Golden cases: every golden/<codemod>/<case>.txtar run through `goescape fix` on the real toolchain."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

from goescape.engine import txtar
from goescape.engine.cli import main
from goescape.engine.judge import line_map
from goescape.engine.toolchain import Toolchain

from .conftest import ROOT, go, write_tree
from .reports import report_json

NO_MATCH = "no match"  # a negative case's reason when the codemod proposes nothing at all
CASES = sorted((ROOT / "golden").glob("*/*.txtar"))
_ESCAPE_LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):\d+: (?P<msg>.+)$")


def _expected_name(name: str) -> str | None:
    """The input file an expectation section belongs to: expected.go → input.go, expected/F → F."""
    if name == "expected.go":
        return "input.go"
    if name.startswith("expected/"):
        return name.removeprefix("expected/")
    return None


def _escape_messages(tc: Toolchain, cwd: Path) -> list[tuple[str, int, str]]:
    out = go(tc, "build", "-gcflags=-m", "./...", cwd=cwd)
    found = []
    for line in out.stderr.splitlines():
        m = _ESCAPE_LINE.match(line.removeprefix("./"))
        if m:
            found.append((m.group("file"), int(m.group("line")), m.group("msg")))
    return found


def _listed(line: str) -> tuple[str, int, str]:
    m = _ESCAPE_LINE.match(line)
    assert m, f"not an escape line: {line}"
    return m.group("file"), int(m.group("line")), m.group("msg")


def _reasons(report: dict[str, Any], codemod: str, work: Path) -> list[str]:
    """Why each of the codemod's matches was not written, with the case's folder as $WORK."""
    return [
        str(r["reason"]).replace(str(work), "$WORK")
        for r in report["results"]
        if r["codemod"] == codemod and r["result"] != "verified"
    ]


@pytest.mark.parametrize("case", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_golden(
    case: Path, tmp_path: Path, toolchain: Toolchain, update_golden: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = txtar.parse(case.read_text())
    assert archive.comment.startswith("This case checks"), "a golden case opens with one line of prose"
    codemod = case.parent.name
    inputs = {n: d for n, d in archive.files if _expected_name(n) is None and n not in ("escapes", "flags", "reason")}
    expected = {_expected_name(n): d for n, d in archive.files if _expected_name(n) is not None}
    escapes = [ln for ln in (archive.get("escapes") or "").splitlines() if ln.strip()]
    flags = shlex.split(archive.get("flags") or "")
    write_tree(tmp_path, inputs)

    before = go(toolchain, "build", "./...", cwd=tmp_path)
    assert before.returncode == 0, f"the input must build:\n{before.stderr}"
    messages_before = _escape_messages(toolchain, tmp_path)
    for line in escapes:
        assert _listed(line) in messages_before, f"escape not reported before: {line}"

    # Calibration decides what is on by default, and has tests of its own; a golden case shows
    # what its codemod does to the code, so every pattern is tried here.
    capsys.readouterr()
    status = main(
        ["fix", "-C", str(tmp_path), "--codemod", codemod, "--write", "--all-patterns", "--json", *flags, "./..."]
    )
    assert status == 0
    reasons = _reasons(report_json(capsys.readouterr().out), codemod, tmp_path)

    actual = {name: (tmp_path / name).read_text() for name in inputs}
    changed = {name for name in inputs if actual[name] != inputs[name]}
    if update_golden:
        files = [(n, d) for n, d in archive.files if _expected_name(n) is None and n != "reason"]
        if not changed:
            files.append(("reason", (reasons[0] if reasons else NO_MATCH) + "\n"))
        for name in sorted(changed):
            files.append(("expected.go" if name == "input.go" else f"expected/{name}", actual[name]))
        case.write_text(txtar.format(txtar.Archive(archive.comment, tuple(files))))
        return
    for name in inputs:
        assert actual[name] == expected.get(name, inputs[name]), f"{name} differs from its expectation"
    if not changed:
        # A negative case states why the codemod leaves the code alone: a reason it gives, or no match.
        wanted = (archive.get("reason") or "").strip()
        assert wanted, "a negative case has a reason section (pytest --update-golden writes it)"
        if wanted == NO_MATCH:
            assert not reasons, f"the codemod was expected not to match, but said: {reasons}"
        else:
            assert any(wanted in r for r in reasons), f"expected the reason {wanted!r}, got {reasons}"
        return
    after = go(toolchain, "build", "./...", cwd=tmp_path)
    assert after.returncode == 0, after.stderr
    assert go(toolchain, "vet", "./...", cwd=tmp_path).returncode == 0
    gofmt = subprocess.run([str(toolchain.gofmt), "-l", "."], cwd=tmp_path, capture_output=True, text=True)
    assert gofmt.stdout == "", f"not gofmt-clean: {gofmt.stdout}"
    # Lines move with the rewrite: map each escape reported after it back to its original line.
    maps = {name: line_map(inputs[name].encode(), actual[name].encode()) for name in inputs}
    messages_after = {
        (file, maps[file].get(line, (-1, False))[0] if file in maps else line, msg)
        for file, line, msg in _escape_messages(toolchain, tmp_path)
    }
    for line in escapes:
        assert _listed(line) not in messages_after, f"escape still there: {line}"
