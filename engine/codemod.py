"""Codemods: what a codemod module provides (its query, patterns and propose function), the matches and
settings it is run with, and loading them."""

from __future__ import annotations

import importlib.metadata
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from goescape.engine.parsing import Node, SourceFile, matches

if TYPE_CHECKING:  # passes imports this module: ProposeFn names Pass for type checkers only
    from goescape.engine.passes import Pass

ENTRY_POINT_GROUP = "goescape.codemods"


@dataclass(frozen=True)
class Pattern:
    """One kind of rewrite a codemod makes, and whether it is equivalent for every input.

    `differs` is empty for a rewrite that behaves the same for every input; otherwise it says in
    one sentence when it does not ("differs when a letter folds but does not lower alike: ſ/s").
    A pattern that differs is only taken where the codemod proves its precondition (`proven=`).
    """

    name: str
    differs: str = ""

    @property
    def equivalent(self) -> bool:
        return not self.differs

    def describe(self) -> str:
        return "equivalent for every input" if self.equivalent else self.differs


@dataclass(frozen=True)
class Options:
    """Settings that codemods read; `extra` carries third-party codemods' own settings."""

    size_limit: int = 128
    allow_api_change: bool = False
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Match:
    """One match of a codemod's query: the captured nodes in one file."""

    src: SourceFile
    captures: Mapping[str, list[Node]]

    def one(self, name: str) -> Node | None:
        nodes = self.captures.get(name)
        return nodes[0] if nodes else None

    def text(self, name: str) -> str:
        node = self.one(name)
        return self.src.text(node) if node is not None else ""


# "Pass" in quotes: it is imported for type checkers only, as passes.py names Codemod and Options from here.
ProposeFn = Callable[[Match, "Pass"], None]


@dataclass(frozen=True)
class Codemod:
    """A loaded codemod: its name, its docstring, its query, and its propose function."""

    name: str
    doc: str
    query: str
    propose: ProposeFn
    default_on: bool = True
    calibration: Path | None = None  # a folder of <pattern>.txtar before/after benchmark pairs
    anchored: bool = True  # False: the compiler never reports its pattern, so every file is read
    patterns: Mapping[str, Pattern] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        return self.doc.strip().splitlines()[0] if self.doc.strip() else ""

    @classmethod
    def from_module(cls, module: ModuleType) -> Codemod:
        name = str(module.NAME)
        here = Path(str(module.__file__)).resolve().parent
        # Built-ins keep their calibration pairs beside their golden cases (golden/<name>/calibrate,
        # installed as goescape/golden); a third-party module names its folder in CALIBRATE.
        builtin = module.__name__.startswith("goescape.codemods.")
        default = here.parent / "golden" / name / "calibrate" if builtin else None
        calibration = getattr(module, "CALIBRATE", default)
        return cls(
            name=name,
            doc=inspect.getdoc(module) or "",
            query=str(module.QUERY),
            propose=module.propose,
            default_on=bool(getattr(module, "DEFAULT_ON", True)),
            calibration=Path(calibration) if calibration is not None else None,
            anchored=bool(getattr(module, "ANCHORED", True)),
            patterns={p.name: p for p in getattr(module, "PATTERNS", ())},
        )

    def run(self, pass_: Pass, src: SourceFile, ranges: Iterable[tuple[int, int]]) -> None:
        """Run the query over the given byte ranges of one file; results collect in `pass_.results`."""
        seen: set[tuple[int, ...]] = set()
        for start, end in ranges:
            for captures in matches(self.query, src.root, start, end):
                key = tuple(sorted(n.id for nodes in captures.values() for n in nodes))
                if key in seen:
                    continue
                seen.add(key)
                self.propose(Match(src, captures), pass_)


def load_codemods() -> list[Codemod]:
    """The built-in codemods in their listed order, then those registered by entry point."""
    from goescape.codemods import BUILTIN

    loaded = [Codemod.from_module(m) for m in BUILTIN]
    names = {c.name for c in loaded}
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        obj = entry.load()
        codemod = obj if isinstance(obj, Codemod) else Codemod.from_module(obj)
        if codemod.name not in names:
            loaded.append(codemod)
            names.add(codemod.name)
    return loaded
