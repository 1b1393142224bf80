"""`--overlay` and `--write-overlay`: files read as `go build -overlay` reads them, and one run's
output given to the next as an overlay, which must then have nothing left to do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from goescape.engine.cli import main

from .conftest import without_progress, write_tree
from .reports import report_json

ON_DISK = {
    "go.mod": "module example.com/ov\n\ngo 1.22\n",
    "p/p.go": "package p\n\nfunc Check(s string) error { return nil }\n",
}
# The unsaved buffer an editor would pass: the same file with a constant error made on each call.
BUFFER = """package p

import "errors"

func Check(s string) error {
\tif s == "" {
\t\treturn errors.New("empty")
\t}
\treturn nil
}
"""


def _overlay(tmp_path: Path, module: Path) -> Path:
    buffer = tmp_path / "buffer.go"
    buffer.write_text(BUFFER)
    overlay = tmp_path / "overlay.json"
    overlay.write_text(json.dumps({"Replace": {str(module / "p" / "p.go"): str(buffer)}}))
    return overlay


def _fix(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main(["fix", "--json", "--codemod", "errors-sentinel", *argv]) == 0
    report: dict[str, Any] = report_json(capsys.readouterr().out)
    return report


def test_fix_reads_the_overlay_and_its_output_is_a_fixed_point(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    module = tmp_path / "m"
    write_tree(module, ON_DISK)
    overlay = _overlay(tmp_path, module)
    first = _fix(
        capsys, "-C", str(module), "--overlay", str(overlay), "--write-overlay", str(tmp_path / "out"), "./..."
    )
    check = next(r for r in first["results"] if r["function"] == "Check")
    assert check["result"] == "verified", check  # the escape is only in the overlay's version
    assert '-\t\treturn errors.New("empty")' in first["diff"]
    assert (module / "p" / "p.go").read_text() == ON_DISK["p/p.go"], "the tree is never written"
    second = _fix(capsys, "-C", str(module), "--overlay", str(tmp_path / "out" / "overlay.json"), "./...")
    assert second["diff"] == "" and not [r for r in second["results"] if r["result"] != "skipped"], second


def test_overlay_refuses_to_write_the_files_it_replaces(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    module = tmp_path / "m"
    write_tree(module, ON_DISK)
    overlay = _overlay(tmp_path, module)
    assert main(["fix", "-C", str(module), "--overlay", str(overlay), "--write", "./..."]) == 2
    err = capsys.readouterr().err
    assert str(overlay) in err and "--write-overlay" in err
    assert (module / "p" / "p.go").read_text() == ON_DISK["p/p.go"]


def test_a_bad_overlay_file_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    module = tmp_path / "m"
    write_tree(module, ON_DISK)
    bad = tmp_path / "bad.json"
    bad.write_text('{"Replace": ["not", "a", "map"]}')
    assert main(["scan", "-C", str(module), "--overlay", str(bad), "./..."]) == 2
    err = without_progress(capsys.readouterr().err).strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0] and "not a go overlay file" in err[0], err
