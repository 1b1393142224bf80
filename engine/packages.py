"""Go packages as `go list` gives them: a run's patterns resolved and listed, and those that import or test them."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from goescape.engine.errors import NotInModule, PackageLoadError
from goescape.engine.toolchain import Toolchain, go_error_line, language_version


@dataclass(frozen=True)
class Package:
    """A Go package as `go list` describes it, with absolute file paths."""

    import_path: str
    name: str
    dir: Path
    go_files: tuple[Path, ...]
    test_files: tuple[Path, ...]
    standard: bool
    module_path: str
    module_dir: Path | None
    go_line: str  # the module's go.mod `go` line, or the toolchain's language version for std
    imports: tuple[str, ...] = field(default=())
    # Only _test.go files build here (a wildcard matched it): never compiled for escapes, but its
    # tests run when verifying, as `go build ./...` skips it and `go test ./...` does not.
    test_only: bool = False

    @property
    def is_main(self) -> bool:
        return self.name == "main"

    @property
    def is_internal(self) -> bool:
        return "internal" in self.import_path.split("/")

    @property
    def has_tests(self) -> bool:
        return bool(self.test_files)


_LIST_FIELDS = (
    "ImportPath,Dir,Name,GoFiles,CgoFiles,TestGoFiles,XTestGoFiles,IgnoredGoFiles,Module,Standard,Error,Imports,Match"
)
# Patterns the go command expands (cmd/go's search.IsMetaPackage, plus any `...`).
_META_PATTERNS = frozenset({"all", "std", "cmd", "tool"})


def _decode_stream(text: str) -> list[dict[str, object]]:
    decoder = json.JSONDecoder()
    items: list[dict[str, object]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        obj, end = decoder.raw_decode(text, pos)
        items.append(obj)
        pos = end
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return items


def _module_root(directory: Path) -> Path | None:
    for candidate in (directory, *directory.parents):
        if (candidate / "go.mod").is_file():
            return candidate
    return None


def resolve_patterns(patterns: Sequence[str], cwd: Path) -> tuple[Path, list[str]]:
    """Where to run the go command, and the patterns as it should see them there.

    A pattern naming a directory (`./...`, `examples/...`, `internal/store`) is made relative to
    the root of the module that holds it, so `goescape fix examples/...` works from outside the
    module too; import paths (`strings`, `encoding/json`) are passed on as they are.
    """
    roots: set[Path] = set()
    resolved: list[str] = []
    for pattern in patterns:
        if pattern.endswith(".go") and (cwd / pattern).is_file():
            _refuse_file(pattern, cwd)
        recursive = pattern == "..." or pattern.endswith("/...")
        base = pattern.removesuffix("...").removesuffix("/") or "."
        directory = (cwd / base).resolve()
        if not (pattern.startswith((".", "/")) or directory.is_dir()):
            resolved.append(pattern)
            continue
        if not directory.is_dir():
            raise PackageLoadError("no such directory", path=directory, hint="name a package directory or import path")
        root = _module_root(directory)
        if root is None:
            below = (directory / "go.work").is_file() or any(directory.glob("*/go.mod"))
            raise NotInModule(
                "not inside a Go module (no go.mod here or above)",
                path=directory,
                hint="it holds modules below it: --all-modules covers each in its own module, or -C names one"
                if below
                else "run goescape from inside a module or pass -C DIR",
            )
        roots.add(root)
        rel = os.path.relpath(directory, root)
        resolved.append(("." if rel == "." else "./" + rel) + ("/..." if recursive else ""))
    if len(roots) > 1:
        raise PackageLoadError(
            "the patterns span several modules: " + ", ".join(sorted(map(str, roots))), hint="run once per module"
        )
    return (roots.pop() if roots else cwd), resolved


def _refuse_file(pattern: str, cwd: Path) -> None:
    """A .go file named as a pattern: outside a module that is the problem; inside one, that
    goescape (like `go build` of a module's packages) takes the package, not one of its files."""
    folder = (cwd / pattern).resolve().parent
    if _module_root(folder) is None:
        raise NotInModule(
            "not inside a Go module (no go.mod in its folder or any folder above)",
            path=pattern,
            hint="run `go mod init MODULE` there, or pass -C the module's folder",
        )
    rel = os.path.relpath(folder, cwd)
    raise PackageLoadError(
        "is a file; goescape works on packages",
        path=pattern,
        hint=f"name its package's folder instead: {'.' if rel == '.' else './' + rel}",
    )


def list_packages(tc: Toolchain, patterns: Sequence[str], cwd: Path) -> list[Package]:
    """List the packages that resolved patterns name, run from `cwd` (see resolve_patterns).

    As the go command reads `./...`: a package a wildcard matched that has only _test.go files
    comes back with `test_only` set, and one where nothing builds at all is left out. Named
    explicitly, either is a PackageLoadError, as are go list's own errors for a package with
    nothing to build.
    """
    out = tc.run(["list", "-e", f"-json={_LIST_FIELDS}", *patterns], cwd)
    if out.returncode != 0 and not out.stdout.strip():
        raise PackageLoadError(go_error_line(out.stderr) or "go list failed", path=cwd)
    lang = language_version(tc.version)
    packages: list[Package] = []
    for raw in _decode_stream(out.stdout):
        directory = Path(str(raw.get("Dir", "")))
        module = raw.get("Module") if isinstance(raw.get("Module"), dict) else None
        go_files = [*_strs(raw.get("GoFiles")), *_strs(raw.get("CgoFiles"))]
        tests = [*_strs(raw.get("TestGoFiles")), *_strs(raw.get("XTestGoFiles"))]
        if not go_files:
            # The go command builds nothing here. Under a wildcard that is no error to it
            # (`go build ./...` skips the folder, `go test ./...` runs its tests); named, it is.
            error = _load_error(raw)
            no_go = _no_go_message(raw)
            name = str(raw.get("ImportPath"))
            if error and error != no_go:
                raise PackageLoadError(error, path=None if name in error else name)
            if not _by_wildcard(raw, patterns):
                raise PackageLoadError(error or no_go, path=None if name in (error or no_go) else name)
            if not tests:
                continue
        packages.append(
            Package(
                import_path=str(raw["ImportPath"]),
                name=str(raw.get("Name", "")),
                dir=directory,
                go_files=tuple(directory / f for f in go_files),
                test_files=tuple(directory / f for f in tests),
                standard=bool(raw.get("Standard")),
                module_path=str(module.get("Path", "")) if isinstance(module, dict) else "std",
                module_dir=Path(str(module["Dir"])) if isinstance(module, dict) and module.get("Dir") else None,
                go_line=str(module.get("GoVersion", "") or lang) if isinstance(module, dict) else lang,
                imports=tuple(_strs(raw.get("Imports"))),
                test_only=not go_files,
            )
        )
    if not packages:
        raise PackageLoadError(f"no Go packages match {' '.join(patterns)}", path=cwd)
    return packages


def _strs(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _load_error(raw: dict[str, object]) -> str:
    """go list's Error for a package as one line: its position (when it has one) and first line."""
    error = raw.get("Error")
    if not isinstance(error, dict):
        return ""
    text = go_error_line(str(error.get("Err") or "")) or "cannot load package"
    pos = str(error.get("Pos") or "")
    return f"{pos}: {text}" if pos else text


def _no_go_message(raw: dict[str, object]) -> str:
    """What the go command says of a package with no non-test file to build (cmd/go's NoGoError)."""
    directory = str(raw.get("Dir", ""))
    if raw.get("IgnoredGoFiles"):
        return f"build constraints exclude all Go files in {directory}"
    if raw.get("TestGoFiles") or raw.get("XTestGoFiles"):
        return f"no non-test Go files in {directory}"
    return f"no Go files in {directory}"


def _is_wildcard(pattern: str) -> bool:
    return "..." in pattern or pattern in _META_PATTERNS


def _by_wildcard(raw: dict[str, object], patterns: Sequence[str]) -> bool:
    """Whether only wildcard patterns matched this package, none naming it."""
    # Match lists the command-line patterns that matched this package.
    matched = _strs(raw.get("Match")) if "Match" in raw else list(patterns)
    return bool(matched) and all(_is_wildcard(p) for p in matched)


def importers(tc: Toolchain, packages: Sequence[Package]) -> list[str]:
    """Packages of the same main modules that import any of `packages` (not the packages themselves)."""
    wanted = {p.import_path for p in packages}
    found: set[str] = set()
    for module_dir in {p.module_dir for p in packages if p.module_dir is not None}:
        fmt = '{{.ImportPath}} {{join .Imports " "}} {{join .TestImports " "}} {{join .XTestImports " "}}'
        out = tc.run(["list", "-e", "-f", fmt, "./..."], module_dir)
        for line in out.stdout.splitlines():
            name, *imports = line.split()
            if name not in wanted and wanted.intersection(imports):
                found.add(name)
    return sorted(found)


def dependents_with_tests(tc: Toolchain, cwd: Path, patterns: Sequence[str], changed: Iterable[str]) -> list[str]:
    """Packages the patterns match whose test binaries depend, at any depth, on a `changed` one.

    A changed package with tests is one of them. Test-only packages count; packages without
    tests do not (they have no test binary). Patterns as resolve_patterns gives them.
    """
    out = tc.run(["list", "-e", "-test", "-json=ImportPath,Deps,ForTest,Match", *patterns], cwd)
    if out.returncode != 0 and not out.stdout.strip():
        raise PackageLoadError(go_error_line(out.stderr) or "go list -test failed", path=cwd)
    entries = _decode_stream(out.stdout)
    # The patterns' own packages carry Match; their test variants (`p [p.test]`) carry ForTest too,
    # and the generated test mains (`p.test`) neither.
    matched = {str(e["ImportPath"]) for e in entries if e.get("Match") and not e.get("ForTest")}
    wanted = set(changed)
    found: set[str] = set()
    for entry in entries:
        name = str(entry["ImportPath"])
        package = name.removesuffix(".test")
        if entry.get("Match") or entry.get("ForTest") or package == name or package not in matched:
            continue
        deps = {dep.split(" [", 1)[0] for dep in _strs(entry.get("Deps"))}
        if package in wanted or deps & wanted:
            found.add(package)
    return sorted(found)
