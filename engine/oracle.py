"""The type oracle: Go's own type checker (go/types) answering goescape's questions about types.

The oracle is a small Go program shipped as source in `oracle_go/` (standard library only). It is
compiled once per toolchain with the user's own `go`, offline, into the user cache directory
(platformdirs), and one process per run answers JSON lines over stdin/stdout. Packages asked about
are type-checked from source with their tests; their imports come from the export data that
`go list -export -deps -test -json` names, through each package's ImportMap.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

# Ahead of the imports below, as mypy reads a name's first import to tell whether it is re-exported.
from goescape.engine.cachedir import cache_dir
from goescape.engine.errors import OracleFailed
from goescape.engine.gotypes import GoObject, GoType, Layout, Targets, Use, _uses
from goescape.engine.toolchain import Toolchain

_SOURCE = "oracle.go"


def _source() -> bytes:
    return resources.files("goescape.engine").joinpath("oracle_go", _SOURCE).read_bytes()


def oracle_binary(tc: Toolchain) -> Path:
    """The oracle compiled for this toolchain, built on first use with no network.

    Errors: OracleFailed with the compiler's words when the toolchain cannot build it.
    """
    source = _source()
    digest = hashlib.sha256(source + tc.version.encode() + str(tc.go).encode()).hexdigest()[:16]
    folder = cache_dir() / "oracle" / f"{tc.version}-{digest}"
    binary = folder / "goescape-oracle"
    if binary.is_file():
        return binary
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="build-", dir=folder) as tmp:
        work = Path(tmp)
        (work / "go.mod").write_text("module goescape-oracle\n\ngo 1.22\n")
        (work / _SOURCE).write_bytes(source)
        # The oracle runs here whatever GOOS/GOARCH the user targets (it reads GOARCH for sizes).
        host = tc.run(["env", "GOHOSTOS", "GOHOSTARCH"], work).stdout.split()
        env = tc.environ() | {
            "GOFLAGS": "-mod=mod",
            "GOWORK": "off",
            "GOTOOLCHAIN": "local",
            "GOPROXY": "off",
            "CGO_ENABLED": "0",
            **dict(zip(("GOOS", "GOARCH"), host, strict=False)),
        }
        out = subprocess.run(
            [str(tc.go), "build", "-trimpath", "-o", str(work / "oracle"), "."],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            raise OracleFailed("the type oracle does not build with this toolchain", stderr=out.stderr)
        # Two runs may build at once: each renames its own finished binary into place.
        os.replace(work / "oracle", binary)
    return binary


@dataclass
class Oracle:
    """One oracle process for a run, started on the first question (so `scan` without one pays nothing).

    `patterns` are what the run loads (import paths or ./-relative patterns run from `cwd`).
    Every answer is cached for the run. Errors: OracleFailed when the process dies or says so.
    """

    tc: Toolchain
    cwd: Path
    patterns: Sequence[str]
    _proc: subprocess.Popen[str] | None = field(default=None, init=False, repr=False)
    _next: int = field(default=0, init=False, repr=False)
    _memo: dict[tuple[Any, ...], Any] = field(default_factory=dict, init=False, repr=False)
    last_error: str = field(default="", init=False)  # the oracle's words for the last question it could not answer

    def _ask(self, op: str, **args: Any) -> Any:
        memo = (op, *sorted((k, str(v)) for k, v in args.items()))
        if memo in self._memo:
            return self._memo[memo]
        proc = self._start()
        self._next += 1
        if proc.stdin is None or proc.stdout is None:
            raise OracleFailed("the type oracle has no pipes")
        try:
            proc.stdin.write(json.dumps({"id": self._next, "op": op, **args}) + "\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
        except (BrokenPipeError, OSError) as exc:
            raise OracleFailed(f"the type oracle stopped: {exc}") from exc
        if not line:
            raise OracleFailed("the type oracle stopped without an answer")
        answer = json.loads(line)
        if "error" in answer and op == "load":
            self.close()
            raise OracleFailed(f"the type oracle could not load the packages: {answer['error']}", path=self.cwd)
        if "error" in answer:  # a question with no answer (no expression there): None, as documented
            self._memo[memo] = None
            self.last_error = str(answer["error"])
            return None
        self._memo[memo] = answer.get("result")
        return self._memo[memo]

    def _start(self) -> subprocess.Popen[str]:
        if self._proc is not None:
            return self._proc
        binary = oracle_binary(self.tc)
        try:
            self._proc = subprocess.Popen(
                [str(binary), "-go", str(self.tc.go)],
                cwd=self.cwd,
                env=self.tc.environ(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                encoding="utf-8",
            )
        except OSError as exc:
            raise OracleFailed(f"the type oracle does not start: {exc}", path=binary) from exc
        self._ask("load", dir=str(self.cwd), patterns=list(self.patterns))
        return self._proc

    def type_at(self, path: Path, start: int, end: int) -> GoType | None:
        """The type of the expression spanning bytes [start, end) of `path`, or None if there is none."""
        raw = self._ask("type", file=str(path), start=start, end=end)
        if not isinstance(raw, dict) or raw.get("invalid"):
            return None
        return GoType.from_json(raw)

    def object_at(self, path: Path, start: int, end: int) -> GoObject | None:
        """The object the identifier at bytes [start, end) of `path` declares or refers to."""
        raw = self._ask("object", file=str(path), start=start, end=end)
        return GoObject.from_json(raw) if isinstance(raw, dict) else None

    def lookup(self, path: Path, offset: int, name: str) -> GoObject | None:
        """What `name` denotes at byte `offset` of `path` (innermost scope first), or None."""
        raw = self._ask("lookup", file=str(path), offset=offset, name=name)
        return GoObject.from_json(raw) if isinstance(raw, dict) else None

    def uses(self, obj: GoObject, near: Path) -> tuple[Use, ...]:
        """Every use of `obj` in the module holding `near` (every package, tests included)."""
        return _uses(self._ask("uses", key=obj.key, file=str(near)))

    def identity_uses(self, function: GoObject, near: Path) -> tuple[Use, ...]:
        """Where the module tells two results of `function` apart by identity (`==`, map keys, ...).

        A question the oracle cannot answer comes back as one use saying so: nothing is proven then.
        """
        return self._identity(near, key=function.key, file=str(near))

    def identity_uses_of_value(self, path: Path, start: int, end: int) -> tuple[Use, ...]:
        """Where the module tells the values of the expression at [start, end) apart by identity,
        following them through variables, fields and the results of the functions returning them."""
        return self._identity(path, key="", file=str(path), start=start, end=end)

    def _identity(self, near: Path, **args: Any) -> tuple[Use, ...]:
        raw = self._ask("identity", **args)
        if raw is None:
            return (Use(near, 0, 0, 0, "", f"go/types could not follow the values: {self.last_error}"),)
        return _uses(raw)

    def layout(self, path: Path, start: int, end: int, *, observe: bool = False) -> Layout | None:
        """The layout of the struct type named at bytes [start, end) of `path` (its declaring
        identifier), or None when that is no struct type with a size (a generic one has none).

        `observe` also fills `observed` and `api`, which walks every package of the module.
        """
        raw = self._ask("layout", file=str(path), start=start, end=end, observe=observe)
        return Layout.from_json(raw) if isinstance(raw, dict) else None

    def names(self, directory: Path) -> frozenset[str]:
        """Package-level and import names of every Go file in `directory`, whatever its build constraints."""
        return frozenset(self._ask("names", dir=str(directory)) or ())

    def targets(
        self, dirs: Sequence[Path], platforms: Sequence[tuple[str, str]], host: tuple[str, str], host_cgo: bool
    ) -> Targets:
        """The fewest of `platforms` that with `host` compile every .go file of `dirs` (see Targets).

        After the host, greedily the platform compiling most files not yet compiled; ties go to
        the earlier one in `platforms`. Errors: OracleFailed when a directory cannot be read.
        """
        raw = self._ask(
            "targets",
            dirs=[str(d) for d in dirs],
            platforms=[list(p) for p in platforms],
            host=list(host),
            host_cgo=host_cgo,
        )
        if not isinstance(raw, dict):
            raise OracleFailed(f"no build targets: {self.last_error}", path=dirs[0] if dirs else None)
        return Targets.from_json(raw)

    def check_errors(self, path: Path) -> str:
        """The type checker's first error for the package holding `path`, or ""."""
        raw = self._ask("check", file=str(path))
        return str(raw.get("errors") or "") if isinstance(raw, dict) else f"{path.name} is in no loaded package"

    def close(self) -> None:
        if self._proc is None:
            return
        proc, self._proc = self._proc, None
        with contextlib.suppress(OSError):
            if proc.stdin is not None:
                proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> Oracle:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
