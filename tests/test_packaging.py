"""Packaging: a wheel holds goescape.engine and goescape.codemods and runs from a fresh venv."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

from .conftest import ROOT


def test_wheel_installs_into_a_fresh_venv_and_runs(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    wheel = next(dist.glob("goescape-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "goescape/engine/cli.py" in names and "goescape/codemods/__init__.py" in names
    assert "goescape/golden/sprint/calibrate/strconv.txtar" in names, "calibration pairs ship with the codemods"
    assert not any(n.startswith("goescape/golden/") and "/calibrate/" not in n for n in names), "golden cases do not"
    assert not any(n.startswith(("engine/", "codemods/", "tests/")) for n in names), "nothing generic at top level"

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(wheel)], capture_output=True, text=True, check=False
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    version = subprocess.run(
        [str(env_dir / "bin" / "goescape"), "--version"], capture_output=True, text=True, check=False
    )
    assert version.returncode == 0 and version.stdout.strip() == "goescape, version 0.1.0", version.stderr
    listed = subprocess.run([str(env_dir / "bin" / "goescape"), "list"], capture_output=True, text=True, check=False)
    assert listed.returncode == 0 and "sprint" in listed.stdout, listed.stderr
    calibrated = subprocess.run(
        [str(env_dir / "bin" / "goescape"), "calibrate", "--json", "--codemod", "return-value"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert calibrated.returncode == 0, calibrated.stderr
    assert [p["pattern"] for p in json.loads(calibrated.stdout)["patterns"]] == ["value"]

    # The type oracle builds from the installed wheel's Go source into an empty user cache, offline.
    gocache = subprocess.run(["go", "env", "GOCACHE"], capture_output=True, text=True, check=True).stdout.strip()
    offline = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    offline |= {"GOCACHE": gocache, "GOPROXY": "off", "GOFLAGS": "-mod=mod"}
    script = (
        "from goescape.engine.oracle import oracle_binary; from goescape.engine.toolchain import find_toolchain; "
        "print(oracle_binary(find_toolchain()))"
    )
    oracle = subprocess.run([str(python), "-c", script], capture_output=True, text=True, env=offline, check=False)
    assert oracle.returncode == 0, oracle.stderr[-3000:]
    binary = Path(oracle.stdout.strip())
    assert binary.is_file() and binary.is_relative_to(tmp_path / "cache" / "goescape" / "oracle"), binary
