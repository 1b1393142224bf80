"""Per-run allocation counts from the heap profile: the runtime that lets it see every allocation,
the function spans each rendering is counted in, and what equal counts may and may not prove."""

from __future__ import annotations

from pathlib import Path

import pytest

from goescape.engine import txtar
from goescape.engine.cli import main
from goescape.engine.edits import Edit
from goescape.engine.facts import EscapeFact, Kind
from goescape.engine.proposals import Proposal
from goescape.engine.results import Measurement, Rejected, Verified, verdict
from goescape.engine.tinyalloc import exact_runtime
from goescape.engine.toolchain import Toolchain

from .conftest import ROOT, write_tree
from .reports import report_json


def test_the_measuring_runtime_turns_the_tiny_allocator_off_and_builds(toolchain: Toolchain) -> None:
    [(path, data)] = exact_runtime(toolchain).items()
    assert path == toolchain.goroot / "src" / "runtime" / "malloc.go"
    original = path.read_bytes()
    assert data.count(b"if false && size < maxTinySize") == 1
    if b"\nconst sizeSpecializedMallocEnabled = " in original:
        assert data.count(b"\nconst sizeSpecializedMallocEnabled = false && ") == 1
    # Nothing else changes: the two edits add exactly their `false && `.
    assert len(data) - len(original) == len(b"false && ") * (1 + (b"sizeSpecializedMallocEnabled = " in original))


def test_a_rewrite_measured_alone_counts_each_tiny_allocation_in_its_own_rendering(
    tmp_path: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    # Three Sprints on one line: each rewrite is profiled alone, and alone it turns `import "fmt"`
    # into an import block, so the function moves down three lines in that rendering.
    archive = txtar.parse((ROOT / "golden" / "sprint" / "sprint-int.txtar").read_text())
    write_tree(tmp_path, {n: d for n, d in archive.files if n in ("go.mod", "input.go", "input_test.go")})
    assert main(["fix", "--json", "-C", str(tmp_path), "--codemod", "sprint", "--all-patterns", "./..."]) == 0
    results = {r["targets"][0]["expr"]: r for r in report_json(capsys.readouterr().out)["results"]}
    for expr in ("count", "done", "name"):
        measured = results[expr]["measurement"]
        assert results[expr]["result"] == "verified" and measured is not None, results[expr]
        before, after = measured["allocs"]["before"], measured["allocs"]["after"]
        # One allocation fewer each (testing.AllocsPerRun: 5 → 4 for each rewrite alone); the
        # other two Sprints still allocate, so the rewrite's own rendering is never counted as 0.
        # (strconv's "-7" and FormatBool's "true" are under 16 B: invisible to a default runtime.)
        assert before - after == 1 and after >= 2, (expr, measured)


def _proposal(tmp_path: Path) -> Proposal:
    go = tmp_path / "p.go"
    fact = EscapeFact("example.com/p", go, 3, 2, 0, Kind.ESCAPES, "n", "F", (), "n escapes to heap")
    return Proposal("sprint", "example.com/p", go, 3, "F", (Edit(go, 0, 0, b""),), (fact,), "strconv")


def test_equal_counts_without_the_measuring_runtime_are_not_measured_but_more_is_rejected(tmp_path: Path) -> None:
    p = _proposal(tmp_path)
    blind = Measurement("TestF", "p.go:3", "F", 1, (4.0, 4.0), toolchain="go1.x", complete=False)
    judged = verdict(p, blind, p.targets, ("build",))
    assert isinstance(judged, Verified) and judged.measurement is None
    assert "under 16 B" in judged.unmeasured and "only a benchmark" in judged.unmeasured
    worse = verdict(p, Measurement("TestF", "p.go:3", "F", 1, (4.0, 5.0), complete=False), p.targets, ("build",))
    assert isinstance(worse, Rejected) and "saves nothing" in worse.reason
    seen = verdict(p, Measurement("TestF", "p.go:3", "F", 1, (4.0, 4.0)), p.targets, ("build",))
    assert isinstance(seen, Rejected) and "saves nothing" in seen.reason
