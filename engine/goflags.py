"""GOFLAGS: the overlay and the profile (`-overlay`, `-pgo`) that a Toolchain passes to every go command."""

from __future__ import annotations

import json
import os
from pathlib import Path

from goescape.engine.errors import GoescapeError, PackageLoadError
from goescape.engine.packages import _module_root
from goescape.engine.toolchain import Toolchain, go_error_line


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
        raise PackageLoadError(go_error_line(out.stderr) or "go list failed", path=root)
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
