"""The exception tree: every error goescape raises is a GoescapeError that formats its own line."""

from __future__ import annotations

from pathlib import Path


class GoescapeError(Exception):
    """Base of every error goescape reports to a user as one line."""

    def __init__(self, message: str, *, path: Path | str | None = None, hint: str = "") -> None:
        self.message = message
        self.path = str(path) if path is not None else None
        self.hint = hint
        super().__init__(self.line())

    def line(self) -> str:
        where = f"{self.path}: " if self.path else ""
        tail = f" ({self.hint})" if self.hint else ""
        return f"{where}{self.message}{tail}"


class ToolchainMissing(GoescapeError):
    """No usable Go toolchain was found."""


class NotInModule(GoescapeError):
    """The target is not inside a Go module."""


class PackageLoadError(GoescapeError):
    """The go command could not list or find the requested packages."""


class SyntaxProblem(GoescapeError):
    """A Go source file does not parse."""


class BuildFailed(GoescapeError):
    """The packages do not build before any rewrite, so nothing can be verified."""

    def __init__(self, message: str, *, path: Path | str | None = None, stderr: str = "", error: str = "") -> None:
        """`error` is the line of `stderr` that is the error (toolchain.first_error_line), when known."""
        self.stderr = stderr
        first = error or next((ln for ln in stderr.splitlines() if ln and not ln.startswith("#")), "")
        super().__init__(message, path=path, hint=first.strip())


class EditConflict(GoescapeError):
    """Two edits touch overlapping bytes of one file."""

    def __init__(self, message: str, *, path: Path | str | None = None, codemod: str = "") -> None:
        self.codemod = codemod
        super().__init__(message, path=path)


class WriteFailed(GoescapeError):
    """A file could not be written; every file was left as it was."""


class OracleFailed(GoescapeError):
    """The type oracle (go/types in a helper process) could not be built or stopped answering."""

    def __init__(self, message: str, *, path: Path | str | None = None, stderr: str = "") -> None:
        self.stderr = stderr
        first = next((ln for ln in stderr.splitlines() if ln and not ln.startswith("#")), "")
        super().__init__(message, path=path, hint=first.strip())


class CalibrationFailed(GoescapeError):
    """A codemod's calibration pair (its before/after benchmarks) does not build or run on this toolchain."""

    def __init__(self, message: str, *, path: Path | str | None = None, stderr: str = "") -> None:
        self.stderr = stderr
        first = next((ln for ln in stderr.splitlines() if ln.strip() and not ln.startswith("#")), "")
        super().__init__(message, path=path, hint=first.strip())


class BaselineTestsFail(GoescapeError):
    """The tests in scope fail before any rewrite, so --verify test could judge no rewrite."""

    def __init__(self, packages: list[str], *, failure: str = "") -> None:
        self.packages = packages
        named = ", ".join(packages) if packages else "the packages in scope"
        super().__init__(
            f"the tests of {named} fail before any rewrite, so no rewrite could be verified; "
            "fix them, or use --verify vet to check rewrites without tests",
            hint=failure,
        )
