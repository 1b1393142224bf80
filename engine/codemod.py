"""The codemod API: what a codemod module provides, what it gets, and what it proposes."""

from __future__ import annotations

import importlib.metadata
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from goescape.engine.facts import EscapeFact
from goescape.engine.parsing import FUNCTION_TYPES, Node, SourceFile, enclosing, parse_file, walk
from goescape.engine.toolchain import Package

ENTRY_POINT_GROUP = "goescape.codemods"


@dataclass(frozen=True)
class Edit:
    """Replace bytes [start, end) of a file with `new`; offsets come from tree-sitter nodes."""

    path: Path
    start: int
    end: int
    new: bytes

    @classmethod
    def replace(cls, src: SourceFile, node: Node, new: str | bytes) -> Edit:
        data = new.encode() if isinstance(new, str) else new
        return cls(src.path, node.start_byte, node.end_byte, data)

    @classmethod
    def insert(cls, src: SourceFile, offset: int, new: str | bytes) -> Edit:
        data = new.encode() if isinstance(new, str) else new
        return cls(src.path, offset, offset, data)


@dataclass(frozen=True)
class Proposal:
    """A rewrite a codemod proposes: its edits, the escapes it should remove, and why."""

    codemod: str
    package: str
    path: Path
    line: int
    function: str
    edits: tuple[Edit, ...]
    targets: tuple[EscapeFact, ...]
    rationale: str
    add_imports: tuple[tuple[Path, str], ...] = ()
    # Imports that may become unused; each is dropped only if nothing in its file still uses it.
    drop_imports: tuple[tuple[Path, str], ...] = ()
    api_change: bool = False  # changes an exported signature: importers must build too
    # Regexes for escapes the rewrite is expected to add, each the visible form of an allocation the
    # old code made out of the compiler's sight (a concatenation's result that Sprintf built before).
    allowed_new: tuple[str, ...] = ()
    # The calibration pattern (golden/<codemod>/calibrate/<pattern>.txtar) this rewrite is an instance of.
    pattern: str = ""
    # "escape": the targeted escapes must go. "runtime": they may stay (a preallocated slice still
    # escapes), and only fewer allocations measured at run time prove the rewrite.
    proof: str = "escape"
    # Why the targeted escape may not go on this module, said when it does not (or when there is
    # none): e.g. per-iteration loop variables since Go 1.22.
    if_unproven: str = ""

    @property
    def files(self) -> frozenset[Path]:
        return frozenset(e.path for e in self.edits)

    def title(self) -> str:
        return f"{self.codemod} {self.path.name}:{self.line} {self.function}"


@dataclass(frozen=True)
class Skip:
    """A match the codemod declined, with the reason a person can act on."""

    codemod: str
    path: Path
    line: int
    function: str
    reason: str
    targets: tuple[EscapeFact, ...] = ()


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


class Context:
    """What a codemod knows about one package: its files (parsed on demand), facts and settings."""

    def __init__(
        self, package: Package, facts: Iterable[EscapeFact], options: Options, sources: dict[Path, SourceFile]
    ):
        self.package = package
        self.facts = tuple(facts)
        self.options = options
        self._sources = sources

    def source(self, path: Path) -> SourceFile:
        if path not in self._sources:
            self._sources[path] = parse_file(path)
        return self._sources[path]

    def files(self, *, tests: bool = True) -> Iterator[SourceFile]:
        """Every file of the package, test files of the same package name included when asked."""
        for path in self.package.go_files:
            yield self.source(path)
        if tests:
            for path in self.package.test_files:
                src = self.source(path)
                if src.package_name == self.package.name:
                    yield src

    def facts_within(self, src: SourceFile, node: Node) -> list[EscapeFact]:
        return [
            f
            for f in self.facts
            if f.path == src.path and node.start_byte <= f.offset < max(node.end_byte, node.start_byte + 1)
        ]

    def function_of(self, src: SourceFile, node: Node) -> Node | None:
        return enclosing(node, *FUNCTION_TYPES[:2])

    def exported_ok(self, name: str) -> bool:
        """Whether changing this function's signature stays inside the package's API promise."""
        if not name[:1].isupper():
            return True
        return self.package.is_main or self.package.is_internal or self.options.allow_api_change

    def package_level_names(self) -> set[str]:
        """Names declared at package level in any file: functions, types, constants, variables."""
        names: set[str] = set()
        for src in self.files():
            for decl in src.root.named_children:
                if decl.type == "function_declaration" and (name := decl.child_by_field_name("name")) is not None:
                    names.add(src.text(name))
                specs = [c for c in walk(decl) if c.type in ("type_spec", "const_spec", "var_spec")]
                if decl.type in ("type_declaration", "const_declaration", "var_declaration"):
                    for spec in specs:
                        names.update(src.text(n) for n in spec.children_by_field_name("name"))
        return names


ProposeFn = Callable[[Match, Context], "Proposal | Skip | Iterable[Proposal | Skip] | None"]


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
        )

    def run(self, ctx: Context, src: SourceFile, ranges: Iterable[tuple[int, int]]) -> list[Proposal | Skip]:
        """Run the query over the given byte ranges of one file and collect proposals and skips."""
        from goescape.engine.parsing import matches

        out: list[Proposal | Skip] = []
        seen: set[tuple[int, ...]] = set()
        for start, end in ranges:
            for captures in matches(self.query, src.root, start, end):
                key = tuple(sorted(n.id for nodes in captures.values() for n in nodes))
                if key in seen:
                    continue
                seen.add(key)
                result = self.propose(Match(src, captures), ctx)
                if result is None:
                    continue
                if isinstance(result, (Proposal, Skip)):
                    out.append(result)
                else:
                    out.extend(result)
        return out


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
