"""Calibration pairs that do not build: one line naming the pair and the compiler's words, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from goescape.engine.toolchain import Toolchain

from .conftest import without_progress

BROKEN_PAIR = """This pair's after.go does not compile: calibration must say so in one line.
-- go.mod --
module calibrate

go 1.22
-- before.go --
package calibrate

func F() *int { n := 1; return &n }
-- after.go --
package calibrate

func F() int { return undefinedName }
-- bench_test.go --
package calibrate

import "testing"

var sink any

func BenchmarkPattern(b *testing.B) {
	for i := 0; i < b.N; i++ {
		sink = F()
	}
}
"""


def _third_party(tmp_path: Path) -> Path:
    """A codemod installed through the entry point group, whose one calibration pair does not build."""
    site = tmp_path / "site"
    pairs = tmp_path / "pairs"
    site.mkdir()
    pairs.mkdir()
    (pairs / "broken.txtar").write_text(BROKEN_PAIR)
    (site / "broken_codemod.py").write_text(
        '"""Propose nothing; its calibration pair is broken.\n\nBefore: x\nAfter: x\n"""\n'
        "from pathlib import Path\n\n"
        f'NAME = "broken"\nQUERY = "(identifier) @id"\nCALIBRATE = Path({str(pairs)!r})\n\n'
        "def propose(match, pass_):\n    return None\n"
    )
    dist = site / "broken_codemod-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-codemod\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[goescape.codemods]\nbroken = broken_codemod\n")
    return site


def test_a_calibration_pair_that_does_not_build_is_one_line_and_exit_2(tmp_path: Path, toolchain: Toolchain) -> None:
    site = _third_party(tmp_path)
    env = os.environ | {"PYTHONPATH": str(site), "GOESCAPE_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("GOESCAPE_DEBUG", None)
    out = subprocess.run(
        [sys.executable, "-m", "goescape.engine", "calibrate", "--codemod", "broken"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert out.returncode == 2, out.stderr
    lines = without_progress(out.stderr).strip().splitlines()
    assert len(lines) == 1, out.stderr
    line = lines[0]
    assert line.startswith(f"goescape: {tmp_path / 'pairs' / 'broken.txtar'}: "), line
    assert "after.go does not build or run on go" in line
    assert "undefined: undefinedName" in line, "the compiler's own words say what is wrong"
    assert "Traceback" not in out.stderr and "internal error" not in line
    assert not (tmp_path / "cache" / "calibration.json").exists(), "a failed pair caches nothing"


@pytest.mark.parametrize("variant", ["before", "after"])
def test_the_message_names_the_variant_that_failed(tmp_path: Path, variant: str, toolchain: Toolchain) -> None:
    from goescape.engine.calibration import measure_pair
    from goescape.engine.errors import CalibrationFailed

    text = BROKEN_PAIR
    if variant == "before":  # the before side broken, the after side fine
        text = text.replace("return undefinedName", "return 1").replace("return &n", "return &m")
    pair = tmp_path / "p.txtar"
    pair.write_text(text)
    with pytest.raises(CalibrationFailed) as caught:
        measure_pair(toolchain, "broken", pair, count=1)
    assert f"{variant}.go does not build" in caught.value.line()
    assert caught.value.path == str(pair)
