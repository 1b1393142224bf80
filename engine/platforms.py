"""Build targets: the GOOS/GOARCH pairs a toolchain knows, and the fewest that compile every file of some packages."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from pathlib import Path

from goescape.engine.errors import ToolchainMissing
from goescape.engine.gotypes import Targets
from goescape.engine.oracle import Oracle
from goescape.engine.toolchain import Toolchain


def dist_list(tc: Toolchain) -> list[tuple[str, str]]:
    """Every (GOOS, GOARCH) of `go tool dist list -json`, first-class ports first, each group in the go command's order.

    Errors: ToolchainMissing when the toolchain cannot list its ports.
    """
    return list(_dist_list(tc))


@functools.cache
def _dist_list(tc: Toolchain) -> tuple[tuple[str, str], ...]:
    # GOROOT holds no go.mod, so no module's toolchain line can switch the go command here.
    out = tc.run(["tool", "dist", "list", "-json"], tc.goroot)
    if out.returncode != 0:
        raise ToolchainMissing(f"{tc.go} cannot list its ports: {out.stderr.strip()}", path=tc.go)
    ports = json.loads(out.stdout)
    ordered = sorted(ports, key=lambda p: not p.get("FirstClass"))  # sorted is stable
    return tuple((str(p["GOOS"]), str(p["GOARCH"])) for p in ordered)


def fewest_targets(oracle: Oracle, tc: Toolchain, dirs: Sequence[Path]) -> Targets:
    """The fewest targets of `tc` that together compile every .go file of `dirs`, tests included.

    The host is what `go env GOOS GOARCH` says in the oracle's directory (the target every other
    check builds for) and comes first; cgo counts only there, and only when `go env CGO_ENABLED`
    says so. Between targets adding as many files, those of the host's GOARCH come first, then
    first-class ports. Errors: ToolchainMissing when `go env` fails, OracleFailed when a directory cannot be read.
    """
    out = tc.run(["env", "GOOS", "GOARCH", "CGO_ENABLED"], oracle.cwd)
    values = out.stdout.split()
    if out.returncode != 0 or len(values) != 3:
        raise ToolchainMissing(f"`go env GOOS GOARCH CGO_ENABLED` failed: {out.stderr.strip()}", path=oracle.cwd)
    goos, goarch, cgo = values
    # Between targets adding as many files, one of the host's architecture: the same sizes and alignments.
    platforms = sorted(dist_list(tc), key=lambda p: p[1] != goarch)
    return oracle.targets(dirs, platforms, (goos, goarch), cgo == "1")


def other_targets(oracle: Oracle, tc: Toolchain, dirs: Sequence[Path]) -> list[tuple[str, str]]:
    """fewest_targets without the host: the other targets to build so that every file of `dirs` is
    compiled somewhere. None, and no question to the oracle, when no file has a build constraint
    or a name that go/build could read as GOOS/GOARCH: every target then compiles them all."""
    if not any(_constrained(path) for d in dirs for path in d.glob("*.go")):
        return []
    return list(fewest_targets(oracle, tc, dirs).targets[1:])


_SUFFIX = re.compile(r"_[a-z0-9]+(_[a-z0-9]+)?\.go$")


def _constrained(path: Path) -> bool:
    if _SUFFIX.search(path.name.replace("_test.go", ".go")):
        return True
    # Constraints stand before the package clause, after any licence header however long.
    head = path.read_bytes().split(b"\npackage ", 1)[0]
    return b"//go:build" in head or b"// +build" in head
