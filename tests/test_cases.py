"""The shared cases (tests/cases/<name>, copied from shared/cases with their CASE.md): each run as a user
would, with the right behaviour of its CASE.md as the expectation."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from goescape.engine.cli import main
from goescape.engine.toolchain import Toolchain

from .conftest import ROOT, go
from .reports import report_json

CASES = ROOT / "tests" / "cases"


def _case(name: str, tmp_path: Path) -> Path:
    dest = tmp_path / name
    shutil.copytree(CASES / name, dest)
    return dest


def _fix(capsys: pytest.CaptureFixture[str], module: Path, *flags: str) -> dict[str, Any]:
    assert main(["fix", "--json", "-C", str(module), *flags, "./..."]) == 0
    report: dict[str, Any] = report_json(capsys.readouterr().out)
    return report


def _by_function(report: dict[str, Any], codemod: str) -> dict[str, dict[str, Any]]:
    return {r["function"]: r for r in report["results"] if r["codemod"] == codemod}


def _no_unknown_types(report: dict[str, Any]) -> None:
    reasons = [r["reason"] or "" for r in report["results"]]
    assert not [r for r in reasons if "not known" in r], reasons


def test_sprint_decides_by_real_types(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = _fix(capsys, _case("sprint-bytes-verbs", tmp_path), "--codemod", "sprint", "--all-patterns")
    _no_unknown_types(report)
    results = _by_function(report, "sprint")
    assert results["Tag"]["result"] == "verified", results["Tag"]  # `%s` of a plain []byte is string(b)
    assert '"tag=" + string(b)' in report["diff"]
    # Each verb with an exact twin is tried and judged on its measurement, never skipped as twin-less.
    for name in ("Hex", "Quote", "Neg", "Flag"):
        assert results[name]["result"] in ("verified", "rejected"), results[name]
        if results[name]["result"] == "rejected":
            assert results[name]["stage"] == "allocs", results[name]
    assert results["Pad"]["result"] == "skipped" and "%5d" in results["Pad"]["reason"]


def test_builder_takes_a_string_out_of_its_var_group(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], toolchain: Toolchain
) -> None:
    module = _case("builder-var-block", tmp_path)
    assert main(["scan", "--json", "-C", str(module), "./..."]) == 0
    scanned = {e["line"]: e for e in report_json(capsys.readouterr().out)["escapes"]}
    # The `+=` line names the codemod where it said "no known rewrite" without a reason.
    assert (scanned[13]["class"], scanned[13]["detail"]) == ("addressed-by-codemod", "concat-builder"), scanned[13]
    plain = _by_function(_fix(capsys, module, "--codemod", "concat-builder"), "concat-builder")["Print"]
    # Proposed and proven up to the measurement: TestPrint's two items make the Builder grow twice
    # as the two += allocated twice (1.5 → 1.5 per run), so the allocs stage may say it saves nothing.
    if plain["result"] != "verified":
        assert (plain["result"], plain["stage"]) == ("rejected", "allocs") and "saves nothing" in plain["reason"], plain
    report = _fix(capsys, module, "--codemod", "concat-builder", "--no-measure", "--write")
    printed = _by_function(report, "concat-builder")["Print"]
    assert printed["result"] == "verified" and [c for c in printed["checks"] if c.startswith("test ")], printed
    removed = [ln for ln in report["diff"].splitlines() if ln.startswith("-\t")]
    assert "-\t\ttext  string" in removed and "-\t\tcount int" in removed, report["diff"]
    menu = (module / "menu.go").read_text()
    # The builder takes the string's place in the group, which keeps count; text is declared after the loop.
    assert "\tvar (\n\t\ttextBuilder strings.Builder\n\t\tcount       int\n\t)\n" in menu, menu
    assert "\ttext := textBuilder.String()\n\treturn text + " in menu, menu
    tested = go(toolchain, "test", "./...", cwd=module)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_api_change_promise_names_the_real_obstacle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    module = _case("api-change-promise", tmp_path)
    plain = _by_function(_fix(capsys, module, "--codemod", "return-value"), "return-value")
    # The API gate is checked last: it is the reason only where the flag would make the rewrite work.
    assert plain["NewDecoder"]["reason"].startswith("exported: "), plain
    assert "--allow-api-change rewrites it anyway" in plain["NewDecoder"]["reason"], plain
    assert "512 bytes, over --size-limit 128" in plain["NewTable"]["reason"], plain
    assert "returns nil on some path" in plain["Lookup"]["reason"], plain
    allowed = _fix(capsys, module, "--codemod", "return-value", "--allow-api-change")
    _no_unknown_types(allowed)
    results = _by_function(allowed, "return-value")
    # An io.Reader field is two words; nothing else blocks the rewrite once the API may change.
    assert results["NewDecoder"]["result"] == "verified", allowed["results"]
    assert results["NewTable"]["reason"] == plain["NewTable"]["reason"], results
    assert results["Lookup"]["reason"] == plain["Lookup"]["reason"], results


def test_names_chosen_in_one_run_never_collide(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = _fix(capsys, _case("sentinel-name-clash", tmp_path), "--codemod", "errors-sentinel")
    results = _by_function(report, "errors-sentinel")
    assert {results[f]["result"] for f in ("CloseArray", "CloseObject")} == {"verified"}, results
    added = [ln for ln in report["diff"].splitlines() if ln.startswith("+var ")]
    names = [ln.split()[1] for ln in added]
    assert len(names) == 2 and len(set(names)) == 2, added


def test_a_new_name_avoids_files_of_other_platforms(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], toolchain: Toolchain
) -> None:
    module = _case("sentinel-buildtag", tmp_path)
    report = _fix(capsys, module, "--codemod", "errors-sentinel", "--write")
    assert _by_function(report, "errors-sentinel")["Check"]["result"] == "verified"
    store = (module / "store.go").read_text()
    assert "errors.New(" in store and "var errEmptyKey" not in store
    env = toolchain.environ() | {"GOOS": "windows"}
    windows = subprocess.run([str(toolchain.go), "build", "./..."], cwd=module, env=env, capture_output=True, text=True)
    assert windows.returncode == 0, windows.stderr


def test_identity_seen_by_an_importer_declines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = _fix(capsys, _case("errors-identity-importer", tmp_path), "--codemod", "errors-sentinel")
    take = _by_function(report, "errors-sentinel")["Take"]
    assert take["result"] == "skipped" and "incidents.go:11" in take["reason"], take
    assert not report["diff"]


def test_notes_service_types_and_equivalence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], toolchain: Toolchain
) -> None:
    module = _case("notes-service", tmp_path)
    codemods = ["--codemod", "sort-slice", "--codemod", "sprint", "--codemod", "bytes-twin"]
    report = _fix(capsys, module, *codemods, "--all-patterns", "--verify", "build")
    _no_unknown_types(report)
    assert _by_function(report, "sort-slice")["(*Store).List"]["result"] != "skipped", report["results"]
    assert _by_function(report, "sprint")["Label"]["result"] != "skipped"
    same = _by_function(report, "bytes-twin")["SameTitle"]
    assert same["result"] == "skipped" and "not equivalent" in same["reason"], same
    assert "EqualFold" not in report["diff"]
    assert go(toolchain, "build", "./...", cwd=module).returncode == 0


def test_list_states_each_patterns_equivalence(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--json"]) == 0
    listed = {c["name"]: c["equivalence"] for c in json.loads(capsys.readouterr().out)["codemods"]}
    assert all(listed.values()), "every codemod declares its patterns"
    assert listed["bytes-twin"]["equalfold"].startswith("differs"), listed["bytes-twin"]
    assert listed["errors-sentinel"]["sentinel"].startswith("differs"), listed["errors-sentinel"]
    assert listed["sprint"]["concat"] == "equivalent for every input"
    assert main(["list"]) == 0
    table = capsys.readouterr().out
    assert "equalfold: differs" in " ".join(table.split()), table


def test_notes_list_is_measured_by_its_own_benchmark(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    module = _case("notes-service", tmp_path)
    report = _fix(capsys, module, "--codemod", "prealloc", "--codemod", "write-string")
    listed = _by_function(report, "prealloc")["(*Store).List"]
    assert listed["result"] == "verified", listed
    measured = listed["measurement"]
    assert measured["benchmark"] and measured["by"] == "BenchmarkHandlers", measured
    # By hand: 21,284 → 14,002 B/op, 90 → 84 allocs/op.
    assert measured["bytes"]["after"] < 0.8 * measured["bytes"]["before"], measured
    assert measured["allocs"]["after"] < measured["allocs"]["before"], measured
    # A rewrite the tests run and that saves nothing there is rejected with what ran it.
    health = _by_function(report, "write-string")["(*Server).handleHealth"]
    assert health["result"] == "rejected" and health["stage"] == "allocs", health
    assert "saves nothing" in health["reason"] and "TestServer" in health["reason"], health


def test_split_slice_ranged_once_by_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = _fix(capsys, _case("split-seq-reuse", tmp_path))
    results = _by_function(report, "split-seq")
    # The name's only use is the range, so Peers is proposed as a range over strings.SplitSeq.
    # On go1.26.8 its test measures 2 → 2 allocs per call: Split's slice goes, but `out` then grows
    # by two heap allocations inside the iterator's closure where it took one before (by hand:
    # 80 → 48 B/op, 2 → 2 allocs/op), so the run-time proof rejects it rather than calling it verified.
    peers = results["Peers"]
    assert peers["result"] == "rejected" and peers["stage"] == "allocs", peers
    assert "saves nothing" in peers["reason"] and "TestDepth" in peers["reason"], peers
    assert "SplitSeq" not in report["diff"]
    # Depth indexes its slice after the loop: the other use is named.
    depth = results["Depth"]
    assert depth["result"] == "skipped" and "segs[len(segs)-1]" in depth["reason"], depth
