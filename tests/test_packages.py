"""Which packages `./...` names as the go command reads it, the first real error of a build, and
which packages' tests depend on a changed one; all against the real go command."""

from __future__ import annotations

from pathlib import Path

import pytest

from goescape.engine.cli import main
from goescape.engine.errors import PackageLoadError
from goescape.engine.facts import GCFLAGS
from goescape.engine.packages import dependents_with_tests, importers, list_packages
from goescape.engine.toolchain import Toolchain, first_error_line

from .conftest import go, write_tree

GO_MOD = "module example.com/testonly\n\ngo 1.22\n"

# The module of shared/cases/test-only-package: a library and a folder of fuzz tests only.
TEST_ONLY_CASE = {
    "go.mod": GO_MOD,
    "lib/lib.go": (
        'package lib\n\nimport "errors"\n\nfunc Check(s string) error {\n\tif len(s) > 0 {\n'
        '\t\treturn errors.New("too long")\n\t}\n\treturn nil\n}\n'
    ),
    "fuzz/fuzz_test.go": (
        'package fuzz\n\nimport (\n\t"testing"\n\n\t"example.com/testonly/lib"\n)\n\n'
        "func FuzzCheck(f *testing.F) {\n\tf.Fuzz(func(t *testing.T, s string) { _ = lib.Check(s) })\n}\n"
    ),
}
# Folders where nothing builds, not even a test: build constraints exclude every file.
NOTHING_BUILDS = {
    "ignored/gen.go": "//go:build ignore\n\npackage main\n\nfunc main() {}\n",
    "ignoredtest/x_test.go": '//go:build ignore\n\npackage ignoredtest\n\nimport "testing"\n\nfunc TestX(t *testing.T) {}\n',
}


@pytest.fixture
def case_module(tmp_path: Path, toolchain: Toolchain) -> Path:
    write_tree(tmp_path, {**TEST_ONLY_CASE, **NOTHING_BUILDS})
    for command in ("build", "vet", "test"):
        out = go(toolchain, command, "./...", cwd=tmp_path)
        assert out.returncode == 0, f"go {command} ./...: {out.stderr}"
    return tmp_path


def test_wildcard_lists_test_only_packages_and_leaves_out_what_never_builds(
    case_module: Path, toolchain: Toolchain
) -> None:
    packages = {p.import_path: p for p in list_packages(toolchain, ["./..."], case_module)}
    assert {path: p.test_only for path, p in packages.items()} == {
        "example.com/testonly/lib": False,
        "example.com/testonly/fuzz": True,
    }
    fuzz = packages["example.com/testonly/fuzz"]
    assert fuzz.go_files == () and fuzz.test_files == (case_module / "fuzz" / "fuzz_test.go",)


def test_test_only_package_with_only_an_external_test(tmp_path: Path, toolchain: Toolchain) -> None:
    write_tree(
        tmp_path,
        {
            **TEST_ONLY_CASE,
            # a non-test file excluded by build constraints, beside a test that builds
            "xt/gen.go": "//go:build ignore\n\npackage xt\n",
            "xt/x_test.go": 'package xt_test\n\nimport "testing"\n\nfunc TestX(t *testing.T) {}\n',
        },
    )
    packages = {p.import_path: p.test_only for p in list_packages(toolchain, ["./..."], tmp_path)}
    assert packages["example.com/testonly/xt"] is True


@pytest.mark.parametrize(
    ("folder", "words"),
    [("fuzz", "no non-test Go files in"), ("ignored", "build constraints exclude all Go files in")],
)
def test_named_package_with_nothing_to_build_is_an_error(
    case_module: Path, toolchain: Toolchain, folder: str, words: str
) -> None:
    with pytest.raises(PackageLoadError) as raised:
        list_packages(toolchain, [f"./{folder}"], case_module)
    # the go command's own words when asked to build it
    built = go(toolchain, "build", f"./{folder}", cwd=case_module)
    assert built.returncode != 0 and words in built.stderr
    assert f"{words} {case_module / folder}" in raised.value.line()


def test_error_in_a_test_only_package_is_raised_with_its_line(tmp_path: Path, toolchain: Toolchain) -> None:
    write_tree(tmp_path, {**TEST_ONLY_CASE, "broken/b_test.go": "package broken\n\nimport (\n"})
    vet = go(toolchain, "vet", "./...", cwd=tmp_path)
    assert vet.returncode != 0
    with pytest.raises(PackageLoadError) as raised:
        list_packages(toolchain, ["./..."], tmp_path)
    assert first_error_line(vet.stderr).startswith("broken/b_test.go:3:")
    assert first_error_line(vet.stderr) in raised.value.line()


def test_scan_of_the_whole_module_succeeds(case_module: Path, toolchain: Toolchain) -> None:
    # Until session.load leaves test_only packages out of its build, go build names fuzz and fails.
    assert main(["scan", "--json", "-C", str(case_module), "./..."]) == 0


BUILD_FAILS = {
    "go.mod": "module m\n\ngo 1.22\n",
    "lib/lib.go": (
        'package lib\n\nimport "errors"\n\nfunc Check(s string) error {\n\tif s != "" {\n'
        "\t\treturn errors.New(s)\n\t}\n\treturn nil\n}\n"
    ),
    # bad imports lib, so lib's diagnostics are printed before bad fails to type-check
    "bad/bad.go": 'package bad\n\nimport "m/lib"\n\nfunc B() error { return lib.Check(missing) }\n',
}


def test_first_error_line_skips_the_diagnostics_before_the_error(tmp_path: Path, toolchain: Toolchain) -> None:
    write_tree(tmp_path, BUILD_FAILS)
    with_diagnostics = go(toolchain, "build", GCFLAGS, "-o", "/dev/null", "./...", cwd=tmp_path)
    plain = go(toolchain, "build", "-o", "/dev/null", "./...", cwd=tmp_path)
    assert with_diagnostics.returncode != 0 and plain.returncode != 0
    # What the same build says without -m=2 is the error and nothing else.
    error = next(ln for ln in plain.stderr.splitlines() if not ln.startswith("#"))
    assert "undefined: missing" in error
    lines = with_diagnostics.stderr.splitlines()
    assert any("escapes to heap" in ln for ln in lines[: lines.index(error)]), "no diagnostic precedes the error"
    assert first_error_line(with_diagnostics.stderr) == error


def test_first_error_line_finds_none_in_diagnostics_of_a_clean_build(tmp_path: Path, toolchain: Toolchain) -> None:
    # These packages print every kind of -m=2 line: shaped generic names with spaces, closures
    # capturing by value and ref, unsafe uintptr assumptions, positions the compiler does not know.
    write_tree(tmp_path, {"go.mod": "module m\n\ngo 1.22\n"})
    out = go(toolchain, "build", GCFLAGS, "-o", "/dev/null", "runtime", "sync", "os", "reflect", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert len(out.stderr.splitlines()) > 10_000
    assert first_error_line(out.stderr) == ""


DEPENDENTS = {
    "go.mod": "module m\n\ngo 1.22\n",
    "a/a.go": "package a\n\nfunc A() int { return 1 }\n",
    "a/a_test.go": 'package a\n\nimport "testing"\n\nfunc TestA(t *testing.T) { _ = A() }\n',
    "b/b.go": 'package b\n\nimport "m/a"\n\nfunc B() int { return a.A() }\n',  # no tests
    "c/c_test.go": 'package c_test\n\nimport (\n\t"testing"\n\n\t"m/b"\n)\n\nfunc TestC(t *testing.T) { _ = b.B() }\n',
    "u/u.go": "package u\n\nfunc U() int { return 2 }\n",
    "u/u_test.go": 'package u\n\nimport "testing"\n\nfunc TestU(t *testing.T) { _ = U() }\n',
}


def test_dependents_are_the_transitive_test_binaries(tmp_path: Path, toolchain: Toolchain) -> None:
    write_tree(tmp_path, DEPENDENTS)
    assert dependents_with_tests(toolchain, tmp_path, ["./..."], ["m/a"]) == ["m/a", "m/c"]
    assert dependents_with_tests(toolchain, tmp_path, ["./..."], ["m/b"]) == ["m/c"]
    assert dependents_with_tests(toolchain, tmp_path, ["./..."], ["m/u"]) == ["m/u"]
    assert dependents_with_tests(toolchain, tmp_path, ["./a", "./b"], ["m/a"]) == ["m/a"]
    # direct importers alone miss c, whose tests reach a through b
    packages = list_packages(toolchain, ["./a"], tmp_path)
    assert importers(toolchain, packages) == ["m/b"]
