"""The config file: goescape.toml at the module root, read with tomllib; flags override it.

The file sits beside go.mod (one above the module root is never read). Every key is optional:

    codemods = ["sprint", "prealloc"]   # which codemods run (default: those on by default)
    verify = "test"                     # how far to verify: one of engine/verify.py's LEVELS
    short = true                        # run the code's tests with -short
    measure = true                      # measure allocations with the code's tests and benchmarks
    profile = "cpu.pprof"               # a heap or CPU profile to rank by
    min-share = 1.0                     # with profile: drop what accounts for less (percent)
    pgo = "default.pgo"
    exclude = ["internal/gen/**", "**/*_string.go"]   # paths left out, globs relative to the module root
    format = ["text", "sarif=escapes.sarif"]          # NAME or NAME=PATH
    base = "merge-base:origin/main"     # for `goescape check`
    baseline = "escapes.baseline.json"  # for `goescape check`

    [codemod.return-value]
    size-limit = 256
    allow-api-change = false

    [codemod.prealloc]
    allow-overcap = true

Paths (profile, pgo, baseline, format destinations) are relative to the file's folder. A flag or
environment variable given for a run overrides the file, which overrides the flag's default; a key
the running command has no flag for is ignored (engine/settings.py). `exclude` globs are anchored at
the module root (engine/globs.py): `*` and `?` stay within one path segment, `**` spans any number
of them, and a pattern that names a folder leaves out everything in it.
"""

from __future__ import annotations

import enum
import math
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

from goescape.engine.errors import GoescapeError
from goescape.engine.formats import FORMATS
from goescape.engine.packages import _module_root
from goescape.engine.results import LEVELS

FILENAME = "goescape.toml"


class Kind(enum.Enum):
    """What a key holds; the value is how a hint names it."""

    STRING = "a string"
    BOOL = "true or false"
    NUMBER = "a number"
    INTEGER = "an integer"
    STRINGS = "an array of strings"
    PATH = "a path (a string)"
    FORMATS = 'an array of strings, each "NAME" or "NAME=PATH"'


# The one table of keys: TOML key -> (click parameter name, kind). `codemod.NAME.OPTION` keys are
# the options of [codemod.NAME] tables.
_TABLE: Mapping[str, tuple[str, Kind]] = MappingProxyType(
    {
        "codemods": ("codemod_names", Kind.STRINGS),
        "verify": ("level", Kind.STRING),
        "short": ("short", Kind.BOOL),
        "measure": ("measure", Kind.BOOL),
        "profile": ("profile_path", Kind.PATH),
        "min-share": ("min_share", Kind.NUMBER),
        "pgo": ("pgo", Kind.PATH),
        "exclude": ("exclude", Kind.STRINGS),
        "format": ("format_specs", Kind.FORMATS),
        "base": ("base", Kind.STRING),
        "baseline": ("baseline", Kind.PATH),
        "codemod.return-value.size-limit": ("size_limit", Kind.INTEGER),
        "codemod.return-value.allow-api-change": ("allow_api_change", Kind.BOOL),
        "codemod.prealloc.allow-overcap": ("allow_overcap", Kind.BOOL),
    }
)

KEYS: Mapping[str, str] = MappingProxyType({key: param for key, (param, _) in _TABLE.items()})
"""TOML key -> the click parameter name it sets."""

_TOP = tuple(key for key in _TABLE if "." not in key)


@dataclass(frozen=True)
class Config:
    """A checked goescape.toml: values keyed by click parameter name; `path` None when there is none."""

    path: Path | None
    values: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))


def find_config(cwd: Path) -> Path | None:
    """The goescape.toml beside the go.mod of the module that holds `cwd`, if there is one."""
    root = _module_root(cwd.resolve())
    if root is None:
        return None
    path = root / FILENAME
    return path if path.is_file() else None


def load_config(cwd: Path) -> Config:
    """The checked config of the module that holds `cwd`. Errors: one GoescapeError naming the file and key."""
    path = find_config(cwd)
    if path is None:
        return Config(None)
    try:
        with path.open("rb") as fp:
            data = tomllib.load(fp)
    except tomllib.TOMLDecodeError as exc:
        raise GoescapeError(f"not valid TOML: {exc}", path=path) from None
    except UnicodeDecodeError:
        raise GoescapeError("not valid TOML: not UTF-8", path=path) from None
    except OSError as exc:
        raise GoescapeError(f"could not read the config ({exc.strerror})", path=path) from None
    values = {KEYS[key]: _check(path, key, value) for key, value in _flatten(path, data)}
    return Config(path, MappingProxyType(values))


def _flatten(path: Path, data: Mapping[str, object]) -> Iterator[tuple[str, object]]:
    """Each (TOML key, value), with [codemod.NAME] options as `codemod.NAME.OPTION`."""
    for key, value in data.items():
        if key == "codemod":
            yield from _codemod_tables(path, value)
        elif key in _TOP:
            yield key, value
        else:
            known = ", ".join(_TOP)
            raise GoescapeError(f"unknown key {key!r}", path=path, hint=f"known keys: {known}, [codemod.NAME] tables")


def _codemod_tables(path: Path, tables: object) -> Iterator[tuple[str, object]]:
    if not isinstance(tables, dict):
        raise GoescapeError("wrong type for 'codemod'", path=path, hint="expected [codemod.NAME] tables")
    for name, options in tables.items():
        if name not in _codemod_names():
            raise GoescapeError(f"unknown codemod {name!r} in [codemod.{name}]", path=path, hint=_known_codemods())
        if not isinstance(options, dict):
            raise GoescapeError(f"wrong type for 'codemod.{name}'", path=path, hint="expected a table of options")
        prefix = f"codemod.{name}."
        takes = [key.removeprefix(prefix) for key in _TABLE if key.startswith(prefix)]
        for option, value in options.items():
            if prefix + option not in _TABLE:
                hint = f"{name} takes: {', '.join(takes)}" if takes else f"{name} takes no options"
                raise GoescapeError(f"unknown option {option!r} in [codemod.{name}]", path=path, hint=hint)
            yield prefix + option, value


def _check(path: Path, key: str, value: object) -> object:
    """The value as the click parameter would hold it, or a GoescapeError naming the key."""
    kind = _TABLE[key][1]
    checked = _coerce(kind, value, path.parent)
    if checked is None:
        raise GoescapeError(f"wrong type for {key!r}: {_toml(value)}", path=path, hint=f"expected {kind.value}")
    if key == "verify" and checked not in _levels():
        raise GoescapeError(
            f"unknown verify level {checked!r}", path=path, hint=f"expected one of: {', '.join(_levels())}"
        )
    if key == "format" and isinstance(checked, tuple):
        for name in (spec.partition("=")[0].strip().lower() for spec in checked):
            if name not in FORMATS:
                raise GoescapeError(
                    f"unknown output format {name!r} in 'format'", path=path, hint=f"use one of {', '.join(FORMATS)}"
                )
    if key == "codemods" and isinstance(checked, tuple):
        if not checked:
            raise GoescapeError("'codemods' is empty", path=path, hint="leave it out to run the default codemods")
        for name in checked:
            if name not in _codemod_names():
                raise GoescapeError(f"unknown codemod {name!r} in 'codemods'", path=path, hint=_known_codemods())
    return checked


def _coerce(kind: Kind, value: object, folder: Path) -> object | None:
    """`value` converted for `kind`, or None when TOML gave another type (bool is not a number here)."""
    if kind is Kind.BOOL:
        return value if isinstance(value, bool) else None
    if isinstance(value, bool):
        return None
    if kind is Kind.INTEGER:
        return value if isinstance(value, int) else None
    if kind is Kind.NUMBER:
        return float(value) if isinstance(value, int | float) else None
    if kind is Kind.STRING:
        return value if isinstance(value, str) else None
    if kind is Kind.PATH:
        return _absolute(value, folder) if isinstance(value, str) and value else None
    if not (isinstance(value, list) and all(isinstance(item, str) for item in value)):
        return None
    if kind is Kind.STRINGS:
        return tuple(value)
    formats = []
    for item in value:
        name, eq, dest = item.partition("=")
        if not name or (eq and not dest):
            return None
        formats.append(f"{name}={_absolute(dest, folder)}" if dest and dest != "-" else item)
    return tuple(formats)


def _absolute(path: str, folder: Path) -> str:
    return str(folder / Path(path).expanduser())


@lru_cache(maxsize=1)
def _codemod_names() -> tuple[str, ...]:
    from goescape.engine.codemod import load_codemods  # imports every codemod: only when a key names one

    return tuple(c.name for c in load_codemods())


def _known_codemods() -> str:
    return "known codemods: " + ", ".join(_codemod_names())


def _levels() -> tuple[str, ...]:
    return tuple(LEVELS)


def _toml(value: object) -> str:
    if value is None:
        return "(not set)"  # TOML has no null: a file leaves the key out
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + "".join(_ESCAPES.get(ch) or _escape(ch) for ch in value) + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return _toml(str(value))


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _escape(ch: str) -> str:
    return f"\\u{ord(ch):04X}" if ord(ch) < 0x20 or ord(ch) == 0x7F else ch
