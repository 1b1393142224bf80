"""ruff and strict mypy, run as tests so that the README's one test command runs them too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True, check=False)


def test_ruff_lint() -> None:
    out = _run("ruff", "check", ".")
    assert out.returncode == 0, out.stdout + out.stderr


def test_ruff_format() -> None:
    out = _run("ruff", "format", "--check", ".")
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy_strict(tmp_path: Path) -> None:
    # The sources live in engine/ and codemods/ but import each other as goescape.engine and
    # goescape.codemods; a link tree gives mypy those names without an install.
    package = tmp_path / "goescape"
    package.mkdir()
    for name in ("engine", "codemods"):
        (package / name).symlink_to(ROOT / name, target_is_directory=True)
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "-p", "goescape.engine", "-p", "goescape.codemods"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "MYPYPATH": str(tmp_path)},
    )
    assert out.returncode == 0, out.stdout + out.stderr
