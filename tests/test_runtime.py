"""The run-time half of the proof: calibration, allocs/op per rewrite, and --bench statistics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from goescape.engine.benchmarks import compare, mann_whitney_p
from goescape.engine.calibration import cache_file
from goescape.engine.cli import main
from goescape.engine.codemod import load_codemods
from goescape.engine.toolchain import Toolchain, go_line_at_least, language_version

from .reports import report_json


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict:  # type: ignore[type-arg]
    assert main(argv) == 0
    out = capsys.readouterr().out
    return report_json(out) if argv[0] in ("scan", "fix", "check") else json.loads(out)  # type: ignore[no-any-return]


def test_calibrate_measures_every_pair_and_caches_per_toolchain(
    toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _json(capsys, ["calibrate", "--json", "--force"])
    assert first["go_version"] == toolchain.version
    rows = {(r["codemod"], r["pattern"], r["benchmark"]): r for r in first["patterns"]}
    value = rows[("return-value", "value", "Pattern")]
    assert value["after"]["allocs"] < value["before"]["allocs"] and not value["off_by_default"]
    itoa = rows[("sprint", "strconv", "Pattern")]
    if go_line_at_least(language_version(toolchain.version), 1, 25):
        # Go 1.25+ boxes small integers without allocating: %d → Itoa saves nothing for them.
        assert itoa["before"]["allocs"] == itoa["after"]["allocs"] and itoa["off_by_default"]
        assert "Large saves" in itoa["why_off"]
    assert {r["codemod"] for r in first["patterns"]} == {c.name for c in load_codemods()}, "every codemod has a pair"
    append = rows[("prealloc", "append100", "Pattern")]
    assert append["after"]["allocs"] < append["before"]["allocs"], "prealloc saves at 100 items"
    cached = cache_file().stat().st_mtime_ns
    second = _json(capsys, ["calibrate", "--json"])
    assert second == first, "a second run reads the cache"
    assert cache_file().stat().st_mtime_ns == cached

    listed = _json(capsys, ["list", "--json"])
    sprint = next(c for c in listed["codemods"] if c["name"] == "sprint")
    assert {p["pattern"] for p in sprint["patterns"]} >= {"strconv", "concat", "string"}


def test_fix_measures_with_the_code_s_own_tests_and_benchmarks(
    examples_copy: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    report = _json(capsys, ["fix", "--json", "--verify", "vet", "-C", str(examples_copy), "./..."])
    by_function = {(r["codemod"], r["function"]): r for r in report["results"]}
    # newItem is too big to inline, so each call allocates; BenchmarkDescribe reaches it.
    new_item = by_function[("return-value", "newItem")]
    assert new_item["result"] == "verified", new_item
    measured = new_item["measurement"]
    assert measured["benchmark"] and measured["by"] == "BenchmarkDescribe", measured
    assert measured["allocs"]["after"] == measured["allocs"]["before"] - 1
    assert measured["bytes"]["after"] < measured["bytes"]["before"]
    assert toolchain.version in measured["text"]
    assert measured["benchmark_runs"] >= 1, "hot paths first: coverage of one pass of the benchmarks"
    # Its proof is at run time: fewer allocs/op and B/op in the package's own benchmark.
    names = by_function[("prealloc", "Names")]
    assert names["result"] == "verified" and names["removed"] == [], names
    assert names["measurement"]["by"] == "BenchmarkNames"
    assert names["measurement"]["allocs"]["after"] < names["measurement"]["allocs"]["before"]
    # A test reaches Address: allocations per run of the rewritten line, naming the test.
    address = by_function[("sprint", "Address")]["measurement"]
    assert address["by"] == "TestAddress" and address["executions"] >= 1 and not address["benchmark"]
    assert address["benchmark_runs"] == 0 and address["text"].endswith("no benchmark runs it"), address
    # No test runs cmd/shopd: never called with made-up arguments, verified on the compiler's word alone.
    config = by_function[("return-value", "loadConfig")]
    assert config["result"] == "verified" and config["measurement"] is None
    assert config["not_measured"].startswith("no test or benchmark"), config


def test_patterns_that_save_nothing_are_off_by_default_and_say_why(
    examples_copy: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    report = _json(capsys, ["fix", "--json", "--verify", "build", "-C", str(examples_copy), "./..."])
    write_name = next(r for r in report["results"] if r["function"] == "WriteName")
    assert write_name["result"] == "skipped" and write_name["reason"].startswith(f"calibrated on {toolchain.version}")
    assert "fprintf allocates" in write_name["reason"] and "--all-patterns" in write_name["reason"]


def test_mann_whitney_matches_benchstat_on_separated_and_identical_samples() -> None:
    assert mann_whitney_p([5.0] * 6, [1.0] * 6) == pytest.approx(2 / 924)
    assert mann_whitney_p([1.0, 2, 3, 4, 5, 6], [1.0, 2, 3, 4, 5, 6]) == 1.0
    assert mann_whitney_p([1.0, 3, 5, 7, 9, 11], [2.0, 4, 6, 8, 10, 12]) > 0.05
    large = mann_whitney_p([float(i) for i in range(15)], [float(i + 10) for i in range(15)])
    assert large < 0.05


def test_a_change_that_is_not_significant_is_never_a_win() -> None:
    head = "goos: linux\npkg: example.com/x\n"
    before = head + "".join(f"BenchmarkF-2  1000  {100 + i} ns/op  16 B/op  2 allocs/op\n" for i in range(6))
    after = head + "".join(f"BenchmarkF-2  1000  {99 + i} ns/op  0 B/op  0 allocs/op\n" for i in range(6))
    changes = {c.metric: c for c in compare(before, after)}
    assert not changes["ns/op"].significant and changes["ns/op"].delta() == "~ (not significant)"
    assert changes["allocs/op"].significant and changes["allocs/op"].delta() == "-100.0%"
    assert changes["B/op"].benchmark == "example.com/x.BenchmarkF"


def test_fix_bench_compares_the_package_benchmarks(
    examples_copy: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    report = _json(
        capsys, ["fix", "--json", "--verify", "build", "--bench", "Describe", "-C", str(examples_copy), "./..."]
    )
    metrics = {b["metric"]: b for b in report["benchmarks"]}
    assert set(metrics) == {"ns/op", "B/op", "allocs/op"}
    assert all(b["samples"] == 6 and b["benchmark"].endswith("shop.BenchmarkDescribe") for b in metrics.values())
