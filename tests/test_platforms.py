"""Build targets: the fewest GOOS/GOARCH pairs that compile every file of some packages, on the real toolchain."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from goescape.engine.gotypes import Targets
from goescape.engine.oracle import Oracle
from goescape.engine.platforms import dist_list, fewest_targets
from goescape.engine.toolchain import Toolchain

from .conftest import ROOT, write_tree

HOST = ("linux", "amd64")


@pytest.fixture
def linux_amd64(toolchain: Toolchain) -> Toolchain:
    """The toolchain, on a linux/amd64 host: the tie-breaking order the exact answers below depend on."""
    goos, goarch = toolchain.run(["env", "GOOS", "GOARCH"], toolchain.goroot).stdout.split()
    if (goos, goarch) != HOST:
        pytest.skip(f"the expected targets are written for a linux/amd64 host, not {goos}/{goarch}")
    return toolchain


def targets(tc: Toolchain, module: Path, *dirs: Path) -> Targets:
    """fewest_targets through a real oracle that has loaded the module, as a run's has."""
    with Oracle(tc, module, ["./..."]) as oracle:
        return fewest_targets(oracle, tc, dirs)


def adds(found: Targets, root: Path) -> dict[tuple[str, str], list[str]]:
    return {t: [str(f.relative_to(root)) for f in files] for t, files in zip(found.targets, found.adds, strict=True)}


def test_dist_list_puts_first_class_ports_first(toolchain: Toolchain) -> None:
    ports = json.loads(toolchain.run(["tool", "dist", "list", "-json"], toolchain.goroot).stdout)
    first = [(p["GOOS"], p["GOARCH"]) for p in ports if p["FirstClass"]]
    rest = [(p["GOOS"], p["GOARCH"]) for p in ports if not p["FirstClass"]]
    assert first
    assert dist_list(toolchain) == first + rest


def test_sentinel_buildtag_needs_windows(tmp_path: Path, linux_amd64: Toolchain) -> None:
    case = tmp_path / "case"
    shutil.copytree(ROOT / "tests" / "cases" / "sentinel-buildtag", case)
    found = targets(linux_amd64, case, case)
    assert found.targets == (HOST, ("windows", "amd64"))
    assert adds(found, case) == {HOST: ["store.go", "store_test.go"], ("windows", "amd64"): ["store_windows.go"]}
    assert found.never == ()


def test_each_platform_once_and_files_no_target_compiles(tmp_path: Path, linux_amd64: Toolchain) -> None:
    write_tree(
        tmp_path,
        {
            "go.mod": "module example.com/p\n\ngo 1.22\n",
            "p/a.go": "package p\n",
            "p/custom.go": "//go:build customtag\n\npackage p\n",
            "p/ignored.go": "//go:build ignore\n\npackage main\n",
            "p/_scratch.go": "package p\n",
            "p/w_windows_test.go": "package p\n",
            "p/x_darwin_arm64.go": "package p\n",
            "p/y_unix.go": "package p\n",
            "p/z_plan9.go": "package p\n",
            # Another package with a Windows file: the windows target chosen for p compiles it too.
            "q/q.go": "package q\n",
            "q/q_windows.go": "package q\n",
        },
    )
    found = targets(linux_amd64, tmp_path, tmp_path / "p", tmp_path / "q")
    # Four is the fewest: darwin/arm64, plan9 and windows files exclude one another, and the host comes first.
    assert found.targets == (HOST, ("windows", "amd64"), ("plan9", "amd64"), ("darwin", "arm64"))
    assert adds(found, tmp_path) == {
        HOST: ["p/a.go", "p/y_unix.go", "q/q.go"],
        ("windows", "amd64"): ["p/w_windows_test.go", "q/q_windows.go"],
        ("plan9", "amd64"): ["p/z_plan9.go"],
        ("darwin", "arm64"): ["p/x_darwin_arm64.go"],
    }
    assert [str(f.relative_to(tmp_path)) for f in found.never] == ["p/_scratch.go", "p/custom.go", "p/ignored.go"]


def test_host_files_only_need_the_host(tmp_path: Path, linux_amd64: Toolchain) -> None:
    write_tree(
        tmp_path,
        {
            "go.mod": "module example.com/h\n\ngo 1.22\n",
            "h.go": "package h\n",
            "h_linux.go": "//go:build linux && amd64 && go1.21\n\npackage h\n",
            "h_test.go": "package h\n",
        },
    )
    found = targets(linux_amd64, tmp_path, tmp_path)
    assert found.targets == (HOST,)
    assert adds(found, tmp_path) == {HOST: ["h.go", "h_linux.go", "h_test.go"]}
    assert found.never == ()


@pytest.mark.parametrize("cgo", ["1", "0"])
def test_cgo_files_count_only_for_the_host_with_cgo(tmp_path: Path, linux_amd64: Toolchain, cgo: str) -> None:
    tc = dataclasses.replace(linux_amd64, env=(*linux_amd64.env, ("CGO_ENABLED", cgo)))
    write_tree(
        tmp_path,
        {
            "go.mod": "module example.com/c\n\ngo 1.22\n",
            "c.go": "package c\n",
            "c_cgo.go": 'package c\n\nimport "C"\n',
            "c_windows.go": 'package c\n\nimport "C"\n',
            "nocgo.go": "//go:build !cgo\n\npackage c\n",
        },
    )
    found = targets(tc, tmp_path, tmp_path)
    never = [f.name for f in found.never]
    if cgo == "1":
        # !cgo files need a target without cgo: any other port compiles nocgo.go, darwin/amd64 is the first.
        assert found.targets == (HOST, ("darwin", "amd64"))
        assert adds(found, tmp_path) == {HOST: ["c.go", "c_cgo.go"], ("darwin", "amd64"): ["nocgo.go"]}
        assert never == ["c_windows.go"]
    else:
        assert found.targets == (HOST,)
        assert adds(found, tmp_path) == {HOST: ["c.go", "nocgo.go"]}
        assert never == ["c_cgo.go", "c_windows.go"]
