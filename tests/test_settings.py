"""Issue 11 through the real CLI: goescape.toml, `goescape config`, --format, the fix cache in the gate, and PGO."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from goescape.engine.cli import main
from goescape.engine.toolchain import Toolchain

from .conftest import ROOT, git_repo, go, without_progress, write_tree
from .reports import report_json

pytestmark = pytest.mark.usefixtures("quiet_git")

GO_MOD = "module example.com/s\n\ngo 1.22\n"

# return-value rewrites newBox (box is 32 bytes on amd64 and arm64); nothing rewrites Leak.
P_GO = """package p

type box struct{ a, b, c, d int }

func newBox(n int) *box {
	return &box{a: n}
}

func Sum(n int) int {
	b := newBox(n)
	return b.a + b.d
}
"""

P_FIXED = P_GO.replace("func newBox(n int) *box {\n\treturn &box", "func newBox(n int) box {\n\treturn box")

SKIP_GO = """package skip

var sink *int

func Leak(n int) {
	x := n
	sink = &x
}
"""

FAST = ("--no-measure", "--verify", "build", "--all-patterns")  # no tests, no calibration benchmarks
EMPTY_BASELINE = '{"version": 1, "escapes": []}\n'


@pytest.fixture(scope="module")
def sarif_schema() -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(json.loads((ROOT / "tests" / "fixtures" / "sarif-schema-2.1.0.json").read_text()))


def _module(root: Path, toml: str | None = None) -> Path:
    """The module above at `root` (p/ with one return-value escape, skip/ with one escape no codemod fixes)."""
    write_tree(root, {"go.mod": GO_MOD, "p/p.go": P_GO, "skip/s.go": SKIP_GO})
    if toml is not None:
        (root / "goescape.toml").write_text(toml)
    return root


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, without_progress(err)


def _json(capsys: pytest.CaptureFixture[str], *args: str, expect: int = 0) -> dict[str, Any]:
    code, out, err = _run(capsys, *args)
    assert code == expect, err
    report: dict[str, Any] = report_json(out)
    return report


def _files(escapes: list[dict[str, Any]]) -> list[str]:
    return sorted(e["file"] for e in escapes)


def _valid(schema: jsonschema.Draft4Validator, log: dict[str, Any]) -> list[dict[str, Any]]:
    """The SARIF log's one run's results, after checking the log against the OASIS schema."""
    assert [f"{list(e.absolute_path)}: {e.message}" for e in schema.iter_errors(log)] == []
    assert log["version"] == "2.1.0"
    results: list[dict[str, Any]] = log["runs"][0]["results"]
    return results


def _uri(result: dict[str, Any]) -> str:
    return str(result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"])


def _patched(root: Path, fix: dict[str, Any]) -> dict[str, bytes]:
    """Each file a SARIF fix changes, as it is after its replacements (applied from the end backwards)."""
    out = {}
    for change in fix["artifactChanges"]:
        uri = change["artifactLocation"]["uri"]
        data = (root / uri).read_bytes()
        for rep in sorted(change["replacements"], key=lambda r: -r["deletedRegion"]["byteOffset"]):
            start, length = rep["deletedRegion"]["byteOffset"], rep["deletedRegion"]["byteLength"]
            data = data[:start] + rep["insertedContent"]["text"].encode() + data[start + length :]
        out[uri] = data
    return out


# -- goescape.toml is read by scan, fix and check ---------------------------------------------


def test_exclude_in_the_file_leaves_files_out_of_scan_and_check(
    tmp_path: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _module(tmp_path / "m")
    baseline = tmp_path / "empty.json"
    baseline.write_text(EMPTY_BASELINE)
    assert _files(_json(capsys, "scan", "-C", str(root), "--json")["escapes"]) == ["p/p.go", "skip/s.go"]

    (root / "goescape.toml").write_text('exclude = ["skip/**"]\n')
    assert _files(_json(capsys, "scan", "-C", str(root), "--json")["escapes"]) == ["p/p.go"]
    report = _json(capsys, "check", "-C", str(root), "--json", "--baseline", str(baseline), expect=1)
    assert (_files(report["new"]), report["counted"]) == (["p/p.go"], 1)
    # A flag replaces the file's list: it does not add to it.
    report = _json(
        capsys, "check", "-C", str(root), "--json", "--baseline", str(baseline), "--exclude", "p/**", expect=1
    )
    assert (_files(report["new"]), report["counted"]) == (["skip/s.go"], 1)


def test_exclude_and_codemods_in_the_file_reach_fix(
    tmp_path: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _module(tmp_path / "m", 'exclude = ["p/*.go"]\n')
    (result,) = _json(capsys, "fix", "-C", str(root), "--json", *FAST)["results"]
    assert (result["codemod"], result["file"], result["result"]) == ("return-value", "p/p.go", "skipped")
    assert result["reason"] == "left out by exclude (p/*.go)"

    (root / "goescape.toml").write_text('codemods = ["sprint"]\n')
    assert _json(capsys, "fix", "-C", str(root), "--json", *FAST)["results"] == []


def test_verify_in_the_file_reaches_fix_and_the_flag_wins(
    tmp_path: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _module(tmp_path / "m", 'verify = "build"\n')
    report = _json(capsys, "fix", "-C", str(root), "--json", "--no-measure", "--all-patterns")
    assert report["verify"] == "build"
    assert [(r["result"], r["checks"]) for r in report["results"]] == [("verified", ["build", "escape"])]
    report = _json(capsys, "fix", "-C", str(root), "--json", "--no-measure", "--all-patterns", "--verify", "vet")
    assert report["verify"] == "vet"
    assert [r["result"] for r in report["results"]] == ["verified"]
    assert "vet" in report["results"][0]["checks"]


def test_size_limit_in_the_file_reaches_the_return_value_codemod(
    tmp_path: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _module(tmp_path / "m", "[codemod.return-value]\nsize-limit = 16\n")
    (result,) = _json(capsys, "fix", "-C", str(root), "--json", *FAST)["results"]
    assert (result["result"], result["reason"]) == ("skipped", "box is 32 bytes, over --size-limit 16")
    (result,) = _json(capsys, "fix", "-C", str(root), "--json", *FAST, "--size-limit", "64")["results"]
    assert result["result"] == "verified"


@pytest.mark.parametrize("command", ["scan", "fix", "check"])
def test_a_bad_key_is_exit_2_in_one_line_naming_the_file(
    tmp_path: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    root = _module(tmp_path / "m", 'verfy = "build"\n')
    code, out, err = _run(capsys, command, "-C", str(root / "p"), "--json")
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert err.startswith(f"goescape: {root / 'goescape.toml'}: unknown key 'verfy' (known keys: codemods, verify,")


def test_format_in_the_file_is_relative_to_the_files_folder(
    tmp_path: Path,
    toolchain: Toolchain,
    capsys: pytest.CaptureFixture[str],
    sarif_schema: jsonschema.Draft4Validator,
) -> None:
    root = _module(tmp_path / "m", 'format = ["sarif=out/escapes.sarif"]\n')
    code, out, err = _run(capsys, "scan", "-C", str(root / "p"))
    assert (code, out) == (0, ""), err
    (result,) = _valid(sarif_schema, json.loads((root / "out" / "escapes.sarif").read_text()))
    assert _uri(result).endswith("p.go") and result["ruleId"] == "escapes-to-heap"


def test_json_on_the_command_line_wins_over_format_in_the_file(
    tmp_path: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _module(tmp_path / "m", 'format = ["text", "sarif=escapes.sarif"]\n')  # the README's example
    report = _json(capsys, "scan", "-C", str(root), "--json")
    assert report["command"] == "scan"


def test_the_file_of_the_module_a_pattern_names_is_read(
    tmp_path: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _module(tmp_path / "m", 'exclude = ["skip/**"]\n')
    monkeypatch.chdir(tmp_path)
    assert _files(_json(capsys, "scan", "--json", "m/...")["escapes"]) == ["m/p/p.go"]


# -- goescape config ----------------------------------------------------------------------------


def _settings(out: str) -> dict[str, tuple[str, str]]:
    """The table `goescape config` prints: setting -> (value, from)."""
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == 3:
            rows[cells[0]] = (cells[1], cells[2])
    return rows


def test_config_prints_each_setting_and_where_it_came_from(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _module(tmp_path / "m", 'verify = "build"\nexclude = ["skip/**"]\n[codemod.return-value]\nsize-limit = 16\n')
    file = str(root / "goescape.toml")

    code, out, err = _run(capsys, "config", "fix", "-C", str(root / "p"), "--verify", "vet", "--short")
    assert code == 0, err
    assert out.splitlines()[0] == f"goescape fix: config file {file}"
    rows = _settings(out)
    assert rows["verify"] == ('"vet"', "flag --verify")
    assert rows["short"] == ("true", "flag --short")
    assert rows["exclude"] == ('["skip/**"]', file)
    assert rows["codemod.return-value.size-limit"] == ("16", file)
    assert rows["measure"] == ("true", "default")
    assert rows["pgo"] == ("(not set)", "default")

    code, out, err = _run(capsys, "config", "check", "-C", str(root), "--base", "HEAD", "--exclude", "x/**")
    assert code == 0, err
    rows = _settings(out)
    assert rows["base"] == ('"HEAD"', "flag --base")
    assert rows["exclude"] == ('["x/**"]', "flag --exclude")
    assert "verify" not in rows  # check has no --verify: the file's key is not one of its settings

    code, out, err = _run(capsys, "config", "scan", "-C", str(tmp_path))  # in no module: no file
    assert code == 0, err
    assert out.splitlines()[0] == "goescape scan: config file none (no goescape.toml beside go.mod)"
    assert _settings(out)["exclude"] == ("[]", "default")


def test_config_without_a_command_takes_flags_for_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _module(tmp_path / "m", 'verify = "build"\n')
    code, out, err = _run(capsys, "config", "-C", str(root), "--verify", "vet")
    assert code == 0, err
    assert out.splitlines()[0] == f"goescape fix: config file {root / 'goescape.toml'}"
    assert _settings(out)["verify"] == ('"vet"', "flag --verify")


# -- --format --------------------------------------------------------------------------------


def test_scan_writes_sarif_to_a_file_and_json_to_stdout(
    tmp_path: Path,
    toolchain: Toolchain,
    capsys: pytest.CaptureFixture[str],
    sarif_schema: jsonschema.Draft4Validator,
) -> None:
    root = _module(tmp_path / "m")
    target = tmp_path / "out" / "escapes.sarif"
    report = _json(capsys, "scan", "-C", str(root), "--format", f"sarif={target}", "--format", "json")
    assert (report["schema_version"], report["command"]) == (1, "scan")
    assert _files(report["escapes"]) == ["p/p.go", "skip/s.go"]
    results = _valid(sarif_schema, json.loads(target.read_text()))
    assert [(_uri(r), r["ruleId"], r["level"]) for r in results] == [
        ("p/p.go", "escapes-to-heap", "note"),
        ("skip/s.go", "moved-to-heap", "note"),
    ]
    assert results[0]["locations"][0]["physicalLocation"]["region"] == {"startLine": 6, "startColumn": 9}


def test_check_writes_sarif_and_json(
    tmp_path: Path,
    toolchain: Toolchain,
    capsys: pytest.CaptureFixture[str],
    sarif_schema: jsonschema.Draft4Validator,
) -> None:
    root = _module(tmp_path / "m")
    (tmp_path / "empty.json").write_text(EMPTY_BASELINE)
    target = tmp_path / "gate.sarif"
    args = ("check", "-C", str(root), "--baseline", str(tmp_path / "empty.json"))
    report = _json(capsys, *args, "--format", f"sarif={target}", "--format", "json", expect=1)
    assert (report["schema_version"], report["command"], report["failed"]) == (1, "check", True)
    results = _valid(sarif_schema, json.loads(target.read_text()))
    assert sorted((_uri(r), r["level"]) for r in results) == [("p/p.go", "error"), ("skip/s.go", "error")]
    fingerprints = {e["file"]: e["fingerprint"] for e in report["new"]}
    assert {_uri(r): r["partialFingerprints"]["goescape/v1"] for r in results} == fingerprints


@pytest.mark.parametrize("command", ["scan", "check"])
def test_json_is_format_json(
    tmp_path: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    root = _module(tmp_path / "m")
    (tmp_path / "empty.json").write_text(EMPTY_BASELINE)
    extra = ("--baseline", str(tmp_path / "empty.json")) if command == "check" else ()
    one = _run(capsys, command, "-C", str(root), *extra, "--json")
    other = _run(capsys, command, "-C", str(root), *extra, "--format", "json")
    assert one == other
    assert report_json(one[1])["command"] == command


def test_github_prints_workflow_commands(
    tmp_path: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _module(tmp_path / "m")
    (tmp_path / "empty.json").write_text(EMPTY_BASELINE)
    code, out, _ = _run(capsys, "scan", "-C", str(root), "--format", "github")
    assert code == 0
    assert [line.split("::")[1] for line in out.splitlines()] == [
        "notice file=p/p.go,line=6,col=9,title=goescape escapes-to-heap",
        "notice file=skip/s.go,line=6,col=2,title=goescape moved-to-heap",
    ]
    code, out, _ = _run(
        capsys, "check", "-C", str(root), "--baseline", str(tmp_path / "empty.json"), "--format", "github"
    )
    assert code == 1
    assert out.splitlines()[0] == (
        "::error file=p/p.go,line=6,col=9,title=goescape escapes-to-heap::"
        "new: &box{...} escapes to heap in newBox: return &box{...} (return)"
    )
    code, out, _ = _run(capsys, "fix", "-C", str(root), *FAST, "--format", "github")
    assert code == 0
    assert out.startswith("::notice file=p/p.go,line=5,title=goescape codemod/return-value::returning box by value")
    assert out.count("\n") == 1


@pytest.mark.parametrize("command", ["scan", "fix", "check"])
def test_two_formats_on_stdout_are_exit_2(
    tmp_path: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    root = _module(tmp_path / "m")
    for formats in (["--format", "json", "--format", "github"], ["--json", "--format", "sarif"]):
        code, out, err = _run(capsys, command, "-C", str(root), *formats)
        assert (code, out) == (2, "")
        first = "json and github" if "github" in formats else "sarif and json"
        assert err == (
            f"goescape: {first} would both go to standard output "
            "(give the others a file, e.g. --format sarif=escapes.sarif)\n"
        )


def test_fix_sarif_carries_each_verified_rewrite_as_a_fix(
    examples_copy: Path,
    toolchain: Toolchain,
    capsys: pytest.CaptureFixture[str],
    sarif_schema: jsonschema.Draft4Validator,
) -> None:
    target = examples_copy / "fixes.sarif"
    args = ("fix", "-C", str(examples_copy), "./...", *FAST, "--codemod", "return-value")
    report = _json(capsys, *args, "--format", f"sarif={target}", "--format", "json")
    assert (report["schema_version"], report["command"], report["verify"]) == (1, "fix", "build")
    verified = sorted((r["file"], r["line"]) for r in report["results"] if r["result"] == "verified")
    assert verified == [("cmd/shopd/main.go", 17), ("shop/shop.go", 19)]
    results = _valid(sarif_schema, json.loads(target.read_text()))
    assert sorted((_uri(r), r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in results) == verified
    assert {r["ruleId"] for r in results} == {"codemod/return-value"}
    # Applied to the files, the fixes make exactly the tree the diff describes.
    patched: dict[str, bytes] = {}
    for r in results:
        (fix,) = r["fixes"]
        patched |= _patched(examples_copy, fix)
    assert "cmd/shopd/main.go" in patched and "shop/shop.go" in patched
    for uri, data in patched.items():
        (examples_copy / uri).write_bytes(data)
    (examples_copy / "fix.diff").write_text(report["diff"])
    check = subprocess.run(
        ["git", "apply", "-R", "--check", "fix.diff"], cwd=examples_copy, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr


# -- the fix cache in the gate ----------------------------------------------------------------

CRATE_BASE = "package p\n\ntype crate struct{ a, b, c, d int }\n\nfunc Sum(n int) int {\n\treturn n\n}\n"
CRATE_GO = """package p

type crate struct{ a, b, c, d int }

func newCrate(n int) *crate {
	return &crate{a: n}
}

func Sum(n int) int {
	c := newCrate(n)
	return c.a + c.d
}
"""


def _gate_sarif(capsys: pytest.CaptureFixture[str], repo: Path, target: Path, *args: str) -> list[dict[str, Any]]:
    code, out, err = _run(capsys, "check", "-C", str(repo), "--base", "HEAD", "--format", f"sarif={target}", *args)
    assert (code, out) == (1, ""), err
    results: list[dict[str, Any]] = json.loads(target.read_text())["runs"][0]["results"]
    return results


def test_check_attaches_the_rewrite_fix_verified_for_these_bytes(
    tmp_path: Path,
    toolchain: Toolchain,
    capsys: pytest.CaptureFixture[str],
    sarif_schema: jsonschema.Draft4Validator,
) -> None:
    repo = git_repo(tmp_path / "repo", {"go.mod": GO_MOD, "p/p.go": CRATE_BASE})
    (repo / "p" / "p.go").write_text(CRATE_GO)  # the new escape, uncommitted
    target = tmp_path / "gate.sarif"
    (before,) = _gate_sarif(capsys, repo, target)
    assert "fixes" not in before  # nothing verified yet

    report = _json(capsys, "fix", "-C", str(repo), "--json", *FAST)
    assert [(r["file"], r["result"]) for r in report["results"]] == [("p/p.go", "verified")]
    assert (repo / "p" / "p.go").read_text() == CRATE_GO  # fix without --write changes nothing

    (new,) = _gate_sarif(capsys, repo, target)
    _valid(sarif_schema, json.loads(target.read_text()))
    assert (_uri(new), new["ruleId"], new["level"]) == ("p/p.go", "escapes-to-heap", "error")
    (fix,) = new["fixes"]
    assert fix["description"]["text"].startswith("return-value: returning crate by value")
    assert _patched(repo, fix) == {
        "p/p.go": CRATE_GO.replace("*crate {\n\treturn &crate", "crate {\n\treturn crate").encode()
    }

    # Other bytes in the file: the cached rewrite was not verified for them and is not offered.
    (repo / "p" / "p.go").write_text(CRATE_GO + "\n// edited\n")
    (edited,) = _gate_sarif(capsys, repo, target)
    assert _uri(edited) == "p/p.go" and "fixes" not in edited


def test_base_from_the_file_reaches_check(
    tmp_path: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = git_repo(tmp_path / "repo", {"go.mod": GO_MOD, "p/p.go": CRATE_BASE})
    (repo / "p" / "p.go").write_text(CRATE_GO)
    (repo / "goescape.toml").write_text('base = "HEAD"\n')
    report = _json(capsys, "check", "-C", str(repo), "--json", expect=1)
    assert report["against"].startswith("base HEAD (")
    assert [(e["function"], e["expr"]) for e in report["new"]] == [("newCrate", "&crate{...}")]


def test_a_cached_fix_is_attached_only_to_the_file_it_was_verified_in(
    tmp_path: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    crate = CRATE_GO.replace("crate", "bin")  # content no other test verifies
    repo = git_repo(tmp_path / "repo", {"go.mod": GO_MOD, "c/c.go": "package c\n"})
    write_tree(repo, {"a/p.go": crate, "b/p.go": crate})
    report = _json(capsys, "fix", "-C", str(repo), "./a", "--json", *FAST)
    assert [(r["file"], r["result"]) for r in report["results"]] == [("a/p.go", "verified")]
    results = _gate_sarif(capsys, repo, tmp_path / "gate.sarif")
    assert sorted(_uri(r) for r in results) == ["a/p.go", "b/p.go"]
    for r in results:
        changed = {c["artifactLocation"]["uri"] for f in r.get("fixes", []) for c in f["artifactChanges"]}
        assert changed <= {_uri(r)}, (_uri(r), changed)


def test_check_base_survives_a_fresh_clone_at_the_same_path(
    tmp_path: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {"go.mod": GO_MOD, "p/p.go": CRATE_BASE}
    repo = git_repo(tmp_path / "repo", files)
    assert _json(capsys, "check", "-C", str(repo), "--base", "HEAD", "--json")["new"] == []
    shutil.rmtree(repo)  # as CI does with a cached GOESCAPE_CACHE_DIR: a new checkout in the same folder
    git_repo(repo, files)
    (repo / "p" / "p.go").write_text(CRATE_GO)
    report = _json(capsys, "check", "-C", str(repo), "--base", "HEAD", "--json", expect=1)
    assert [e["function"] for e in report["new"]] == ["newCrate"]


def test_a_base_without_packages_makes_every_escape_new(
    tmp_path: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = git_repo(tmp_path / "repo", {"go.mod": GO_MOD})
    write_tree(repo, {"p/p.go": CRATE_GO})
    report = _json(capsys, "check", "-C", str(repo), "--base", "HEAD", "--json", expect=1)
    assert [e["function"] for e in report["new"]] == ["newCrate"]


def test_check_paths_are_repository_relative_with_a_baseline(
    tmp_path: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = git_repo(tmp_path / "repo", {"sub/go.mod": GO_MOD, "sub/p/p.go": P_GO})
    (tmp_path / "empty.json").write_text(EMPTY_BASELINE)
    code, out, _ = _run(capsys, "scan", "-C", str(repo / "sub"), "--format", "github")
    assert out.startswith("::notice file=sub/p/p.go,line=6,")
    args = ("check", "-C", str(repo / "sub"), "--baseline", str(tmp_path / "empty.json"), "--format", "github")
    code, out, _ = _run(capsys, *args)
    assert code == 1
    assert out.startswith("::error file=sub/p/p.go,line=6,")


# -- PGO --------------------------------------------------------------------------------------

LIB_GO = SKIP_GO.replace("package skip", "package lib")
LIB_TEST_GO = """package lib

import "testing"

func BenchmarkLeak(b *testing.B) {
	for b.Loop() {
		Leak(1)
	}
}
"""
APP_GO = 'package main\n\nimport "example.com/g/lib"\n\nfunc main() { lib.Leak(1) }\n'


@pytest.fixture(scope="module")
def cpu_profile(toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (tiny) CPU profile, which go build -pgo accepts."""
    root = tmp_path_factory.mktemp("profiled")
    write_tree(
        root, {"go.mod": "module example.com/g\n\ngo 1.22\n", "lib/lib.go": LIB_GO, "lib/lib_test.go": LIB_TEST_GO}
    )
    profile = root.parent / "cpu.pprof"
    test_binary = root.parent / "lib.test"
    out = go(
        toolchain,
        "test",
        "-run=^$",
        "-bench=.",
        "-benchtime=1x",
        f"-cpuprofile={profile}",
        "-o",
        str(test_binary),
        "./lib",
        cwd=root,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return profile


def _app(root: Path) -> Path:
    write_tree(root, {"go.mod": "module example.com/g\n\ngo 1.22\n", "lib/lib.go": LIB_GO, "cmd/app/main.go": APP_GO})
    return root


def test_scan_and_check_name_the_profile_given_with_pgo(
    tmp_path: Path, cpu_profile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _app(tmp_path / "g")
    assert _json(capsys, "scan", "-C", str(root), "--json")["pgo"] is None
    assert _json(capsys, "scan", "-C", str(root), "--json", "--pgo", str(cpu_profile))["pgo"] == str(cpu_profile)
    assert _json(capsys, "check", "-C", str(root), "--json", "--pgo", str(cpu_profile))["pgo"] == str(cpu_profile)
    shutil.copy(cpu_profile, root / "prof.pprof")  # inside the module: named relative to its root
    assert _json(capsys, "check", "-C", str(root), "--json", "--pgo", str(root / "prof.pprof"))["pgo"] == "prof.pprof"


def test_the_main_packages_default_pgo_is_used_without_the_flag(
    tmp_path: Path, cpu_profile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _app(tmp_path / "g")
    shutil.copy(cpu_profile, root / "cmd" / "app" / "default.pgo")
    assert _json(capsys, "scan", "-C", str(root), "--json")["pgo"] == "cmd/app/default.pgo"
    assert _json(capsys, "scan", "-C", str(root / "lib"), "--json", "./...")["pgo"] == "cmd/app/default.pgo"
    assert _json(capsys, "check", "-C", str(root), "--json")["pgo"] == "cmd/app/default.pgo"


def test_pgo_in_the_file_is_relative_to_the_files_folder(
    tmp_path: Path, cpu_profile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _app(tmp_path / "g")
    shutil.copy(cpu_profile, root / "prof.pprof")
    (root / "goescape.toml").write_text('pgo = "prof.pprof"\n')
    assert _json(capsys, "scan", "-C", str(root / "lib"), "--json")["pgo"] == "prof.pprof"


@pytest.mark.parametrize("command", ["scan", "check"])
def test_a_missing_pgo_file_is_exit_2_in_one_line(
    tmp_path: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    root = _app(tmp_path / "g")
    missing = tmp_path / "nope.pprof"
    code, out, err = _run(capsys, command, "-C", str(root), "--json", "--pgo", str(missing))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert err.startswith(f"goescape: {missing}: no such profile (")


def test_a_relative_pgo_is_relative_to_dash_c(
    tmp_path: Path, cpu_profile: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _app(tmp_path / "g")
    shutil.copy(cpu_profile, root / "prof.pprof")
    monkeypatch.chdir(tmp_path)
    assert _json(capsys, "scan", "-C", str(root), "--json", "--pgo", "prof.pprof")["pgo"] == "prof.pprof"
