"""errors-sentinel reaches its fixed point in one run: every function making the same error shares one
sentinel at once (tests/cases/sentinel-needs-second-run), and a second `fix` proposes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from goescape.engine.cli import main
from goescape.engine.toolchain import Toolchain

from .conftest import ROOT, go, write_tree
from .reports import report_json


def _fix(capsys: pytest.CaptureFixture[str], module: Path, *flags: str) -> dict[str, Any]:
    argv = ["fix", "--json", "-C", str(module), "--codemod", "errors-sentinel", *flags, "./..."]
    assert main(argv) == 0
    report: dict[str, Any] = report_json(capsys.readouterr().out)
    return report


def _judged(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in report["results"] if r["result"] in ("verified", "rejected")]


def test_one_run_shares_one_sentinel(tmp_path: Path, capsys: pytest.CaptureFixture[str], toolchain: Toolchain) -> None:
    module = tmp_path / "case"
    shutil.copytree(ROOT / "tests" / "cases" / "sentinel-needs-second-run", module)
    first = _fix(capsys, module, "--write")
    judged = _judged(first)
    assert [(r["function"], r["result"]) for r in judged] == [("First", "verified")], first["results"]
    assert {t["function"] for t in judged[0]["removed"]} == {"First", "Second"}, judged[0]
    assert "Second at p.go:14" in judged[0]["rationale"], judged[0]

    text = (module / "p.go").read_text()
    assert text.count('errors.New("too long")') == 1, text
    assert 'var errTooLong = errors.New("too long")\n' in text, text
    assert text.count("return errTooLong") == 2, text
    assert go(toolchain, "vet", "./...", cwd=module).returncode == 0

    again = _fix(capsys, module)
    assert _judged(again) == [] and again["diff"] == "", again


_SPLIT = {
    "go.mod": "module example.com/split\n\ngo 1.22\n",
    "a.go": """package split

import "errors"

// Open fails on an empty name.
func Open(name string) error {
	if name == "" {
		return errors.New("no name")
	}
	return nil
}

// Fresh must return a new error each time: its callers compare them.
func Fresh(name string) error {
	if name == "" {
		return errors.New("no name")
	}
	return nil
}

// Twice tells two failures apart.
func Twice() bool {
	return Fresh("") == Fresh("")
}
""",
    "b.go": """package split

import "errors"

// Close fails on an empty name.
func Close(name string) error {
	if name == "" {
		return errors.New("no name")
	}
	return nil
}

// Closed reports whether err is a close failure.
func Closed(err error) bool {
	return errors.Is(err, errors.ErrUnsupported)
}
""",
    "c.go": """package split

import "errors"

// Stat fails on an empty name; this file has no other use of errors.
func Stat(name string) error {
	if name == "" {
		return errors.New("no name")
	}
	return nil
}
""",
}


def test_sites_that_fail_their_checks_stay_and_the_others_share(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], toolchain: Toolchain
) -> None:
    write_tree(tmp_path, _SPLIT)
    report = _fix(capsys, tmp_path, "--write", "--no-measure")
    results = {r["function"]: r for r in report["results"]}
    assert results["Open"]["result"] == "verified", report["results"]
    assert "Close at b.go:8" in results["Open"]["rationale"], results["Open"]
    # Compared by identity: skipped with its own reason while Open and Close still share the sentinel.
    assert results["Fresh"]["result"] == "skipped" and "identity" in results["Fresh"]["reason"], results["Fresh"]
    # Stat shares it too: the proposal drops the import its rewrite leaves unused in c.go.
    assert "Stat at c.go" in results["Open"]["rationale"], results["Open"]
    assert "Close" not in results and "Stat" not in results, report["results"]

    a, b = (tmp_path / "a.go").read_text(), (tmp_path / "b.go").read_text()
    assert a.count("var errNoName = errors.New") == 1 and a.count('errors.New("no name")') == 2, a
    assert "return errNoName" in b and 'errors.New("no name")' not in b, b
    c = (tmp_path / "c.go").read_text()
    assert "return errNoName" in c and '"errors"' not in c, c
    assert go(toolchain, "vet", "./...", cwd=tmp_path).returncode == 0
    again = _fix(capsys, tmp_path, "--no-measure")
    assert again["diff"] == "", again["diff"]
