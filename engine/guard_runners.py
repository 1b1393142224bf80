"""Guard runners: the test and benchmark functions in a rewritten package's folder that a guard may call."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from goescape.engine.packages import Package
from goescape.engine.parsing import Node, SourceFile, parse_file, walk
from goescape.engine.results import Verified


@dataclass(frozen=True)
class _Runner:
    """A test or benchmark function in the rewritten package's folder, and the package clause of its file."""

    import_path: str
    dir: Path
    clause: str
    name: str

    @property
    def benchmark(self) -> bool:
        return self.name.startswith("Benchmark")

    @property
    def home(self) -> tuple[Path, str]:
        return (self.dir, self.clause)


def runners_for(
    v: Verified, packages: Mapping[str, Package], functions: Callable[[Package], dict[str, tuple[SourceFile, Node]]]
) -> tuple[list[_Runner], list[str]]:
    """The test and benchmark functions a guard may call for `v`, and why others cannot be.

    `packages` are the loaded packages by import path; `functions` gives a package's test
    functions by name (see _declared).
    """
    m = v.measurement
    if m is None:
        return [], [f"no test or benchmark measured it ({v.allocs_text()})"]
    if m.allocs[1] >= m.allocs[0]:
        return [], [f"it saves bytes, not allocations ({m.text()}), and testing.AllocsPerRun counts allocations"]
    if m.by.startswith("the tests of "):
        return [], [f"no test or benchmark function was on the measured allocations' stacks ({m.by})"]
    package = packages.get(v.proposal.package)
    if package is None:
        return [], [f"{v.proposal.package} is not among the loaded packages"]
    declared = functions(package)
    runners: list[_Runner] = []
    why: list[str] = []
    for name in (n.strip() for n in m.by.removesuffix("…").split(",")):
        if name.startswith("Fuzz"):
            why.append(f"{name} is a fuzz target: f.Fuzz cannot be called again in a loop")
        elif name.startswith("Example"):
            why.append(f"{name} is an example: go test compares what it prints, which a guard would repeat")
        elif name not in declared:
            why.append(
                f"{name} is declared in another package's tests, not in {package.dir.name}/, where the guard goes"
            )
        else:
            src, fn = declared[name]
            wanted = "B" if name.startswith("Benchmark") else "T"
            if constraint := _constrained(src):
                why.append(f"{name} is in {src.path.name}, built only {constraint}: a guard would not build elsewhere")
            elif not _takes(src, fn, wanted):
                why.append(f"{name} is not a func(*testing.{wanted})")
            elif _calls(src, fn, "Parallel"):
                why.append(f"{name} calls Parallel, which panics when the guard calls it a second time")
            else:
                runners.append(_Runner(package.import_path, package.dir, src.package_name, name))
    return runners, why


def _declared(package: Package) -> dict[str, tuple[SourceFile, Node]]:
    """The top-level functions of the package's _test.go files (in-package and external), by name."""
    out: dict[str, tuple[SourceFile, Node]] = {}
    for path in package.test_files:
        if path.is_file():
            src = parse_file(path)
            for node in src.root.named_children:
                name = node.child_by_field_name("name")
                if node.type == "function_declaration" and name is not None:
                    out.setdefault(src.text(name), (src, node))
    return out


def _takes(src: SourceFile, fn: Node, kind: str) -> bool:
    """Whether `fn` is `func(x *testing.T)` (or `.B`): one pointer parameter, no type parameters, no result."""
    params = fn.child_by_field_name("parameters")
    if fn.child_by_field_name("type_parameters") is not None or fn.child_by_field_name("result") is not None:
        return False
    declarations = [n for n in params.named_children if n.type == "parameter_declaration"] if params else []
    if len(declarations) != 1 or len(declarations[0].children_by_field_name("name")) > 1:
        return False
    kind_node = declarations[0].child_by_field_name("type")
    return kind_node is not None and re.fullmatch(rf"\*\s*\w+\.{kind}", src.text(kind_node)) is not None


def _calls(src: SourceFile, fn: Node, method: str) -> bool:
    """Whether `fn`'s body calls `x.<method>()` anywhere, closures included."""
    for node in walk(fn):
        callee = node.child_by_field_name("function") if node.type == "call_expression" else None
        field = (
            callee.child_by_field_name("field") if callee is not None and callee.type == "selector_expression" else None
        )
        if field is not None and src.text(field) == method:
            return True
    return False


# `go tool dist list` on go1.26.8: a file name ending in _GOOS, _GOARCH or _GOOS_GOARCH builds only there.
_GOOS = frozenset(
    [
        "aix",
        "android",
        "darwin",
        "dragonfly",
        "freebsd",
        "hurd",
        "illumos",
        "ios",
        "js",
        "linux",
        "nacl",
        "netbsd",
        "openbsd",
        "plan9",
        "solaris",
        "wasip1",
        "windows",
        "zos",
    ]
)
_GOARCH = frozenset(
    [
        "386",
        "amd64",
        "arm",
        "arm64",
        "loong64",
        "mips",
        "mips64",
        "mips64le",
        "mipsle",
        "ppc64",
        "ppc64le",
        "riscv64",
        "s390x",
        "wasm",
    ]
)


def _constrained(src: SourceFile) -> str:
    """How a _test.go file is limited to some platforms or tags ("" when it builds everywhere)."""
    parts = src.path.name.removesuffix("_test.go").split("_")[1:]
    if parts and (parts[-1] in _GOOS or parts[-1] in _GOARCH):
        return f"for {parts[-1]} (its file name)"
    head = src.data.split(b"\npackage ", 1)[0] if not src.data.startswith(b"package ") else b""
    for line in head.splitlines():
        if line.startswith(b"//go:build "):
            return "where " + line.decode("utf-8", "replace").removeprefix("//go:build ").strip()
    return ""
