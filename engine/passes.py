"""The pass: what a codemod sees of one package, and where it reports (go/analysis's Pass)."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

from goescape.engine.edits import Edit
from goescape.engine.facts import EscapeFact
from goescape.engine.gotypes import GoObject, GoType, Use
from goescape.engine.oracle import Oracle
from goescape.engine.packages import Package
from goescape.engine.parsing import (
    FUNCTION_TYPES,
    Node,
    SourceFile,
    enclosing,
    function_name,
    local_name,
    parse_file,
    top_level,
)
from goescape.engine.proposals import Proposal, Skip

if TYPE_CHECKING:
    from goescape.engine.codemod import Codemod, Options

_T = TypeVar("_T")


class Pass:
    """What a codemod sees of one package, and where it reports (go/analysis's Pass).

    A codemod reads files, escape facts and types through its pass (`type_of`, `object_of`,
    `uses`, `identity_uses_of_value`, `lookup`), names new declarations with `new_name` and new locals
    with `new_local`, and hands back rewrites with `report` and declined matches with `skip`; the
    pass fills in package, file, line and the compiler's name of the function, and keeps the results.
    """

    def __init__(
        self,
        codemod: Codemod,
        package: Package,
        facts: Iterable[EscapeFact],
        options: Options,
        sources: dict[Path, SourceFile],
        oracle: Oracle,
        reserved: dict[Path, set[str]] | None = None,
        reserved_locals: dict[tuple[Path, int], set[str]] | None = None,
    ):
        self.codemod = codemod
        self.package = package
        self.facts = tuple(facts)
        self.options = options
        self.oracle = oracle
        self._sources = sources
        # Names added in this run, per package directory, shared by every codemod's pass.
        self._reserved = reserved if reserved is not None else {}
        # Locals added in this run, per function (its file and its declaration's start byte).
        self._reserved_locals = reserved_locals if reserved_locals is not None else {}
        self.results: list[Proposal | Skip] = []
        self._once: dict[Callable[[Pass], object], object] = {}
        # Per file, (offset, index in facts, fact) by offset: facts_within finds a node's by bisection.
        self._by_file: dict[Path, list[tuple[int, int, EscapeFact]]] = {}
        for i, fact in enumerate(self.facts):
            self._by_file.setdefault(fact.path, []).append((fact.offset, i, fact))
        for entries in self._by_file.values():
            entries.sort(key=lambda e: (e[0], e[1]))

    # Files and facts

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
        """The facts whose position lies in `node`, in the order the pass was given them."""
        end = max(node.end_byte, node.start_byte + 1)
        entries = self._by_file.get(src.path, [])
        lo = bisect_left(entries, node.start_byte, key=lambda e: e[0])
        hi = bisect_left(entries, end, lo, key=lambda e: e[0])
        return [f for _, _, f in sorted(entries[lo:hi], key=lambda e: e[1])]

    def once(self, compute: Callable[[Pass], _T]) -> _T:
        """`compute(self)`, computed on first use and kept for this pass (one codemod, one package):
        for package-wide indexes that every match of a codemod reads."""
        if compute not in self._once:
            self._once[compute] = compute(self)
        return cast(_T, self._once[compute])

    def function_of(self, src: SourceFile, node: Node) -> Node | None:
        """The declaration (function or method) that holds `node`."""
        return enclosing(node, *FUNCTION_TYPES[:2])

    def function_name(self, src: SourceFile, node: Node) -> str:
        """The compiler's and pprof's name of the function holding `node`: `(*T).M`, `F.func1`, `init.0`."""
        decl = top_level(node)
        number = None
        name = decl.child_by_field_name("name") if decl.type == "function_declaration" else None
        if name is not None and src.text(name) == "init":
            number = self._init_number(src, decl)
        return function_name(src, node, number)

    def _init_number(self, src: SourceFile, decl: Node) -> int:
        count = 0
        for path in self.package.go_files:
            other = self.source(path)
            for d in other.root.named_children:
                name = d.child_by_field_name("name") if d.type == "function_declaration" else None
                if name is None or other.text(name) != "init":
                    continue
                if other.path == src.path and d.start_byte == decl.start_byte:
                    return count
                count += 1
        return count

    # Types, from the type checker

    def type_of(self, src: SourceFile, node: Node) -> GoType | None:
        """The type go/types gives the expression `node`, or None (no expression there, cgo's C.x)."""
        return self.oracle.type_at(src.path, node.start_byte, node.end_byte)

    def no_type(self, src: SourceFile, node: Node) -> str:
        """A skip reason for an expression `type_of` gave None: the type checker's own error if any."""
        why = self.oracle.check_errors(src.path) or "cgo's C.x, or an expression go/types records no type for"
        return f"go/types gives {src.text(node)} no type ({why})"

    def object_of(self, src: SourceFile, ident: Node) -> GoObject | None:
        """The object an identifier (or field identifier) declares or refers to."""
        return self.oracle.object_at(src.path, ident.start_byte, ident.end_byte)

    def lookup(self, src: SourceFile, at: Node, name: str) -> GoObject | None:
        """What `name` means at `at`: a local, a package-level name, an import, a predeclared one."""
        return self.oracle.lookup(src.path, at.start_byte, name)

    def uses(self, obj: GoObject) -> tuple[Use, ...]:
        """Every use of `obj` in the module's packages, tests included."""
        return self.oracle.uses(obj, self.package.go_files[0] if self.package.go_files else self.package.dir)

    def identity_uses_of_value(self, src: SourceFile, expr: Node) -> tuple[Use, ...]:
        """Where the module tells values of `expr` apart by identity, following them through
        variables, fields and the callers of the functions that return them."""
        return self.oracle.identity_uses_of_value(src.path, expr.start_byte, expr.end_byte)

    # Names and imports

    def names_taken(self) -> set[str]:
        """Names a new package-level declaration must avoid: every file of the directory, whatever
        its build constraints, and every name added in this run to the package."""
        return set(self.oracle.names(self.package.dir)) | self._reserved.get(self.package.dir, set())

    def new_name(self, candidates: Iterable[str], also_avoid: Iterable[str] = ()) -> str | None:
        """The first candidate that collides with nothing (see names_taken), reserved for this run."""
        taken = self.names_taken() | set(also_avoid)
        for name in candidates:
            if name and name not in taken:
                self._reserved.setdefault(self.package.dir, set()).add(name)
                return name
        return None

    def new_local(self, src: SourceFile, at: Node, candidates: Iterable[str]) -> str | None:
        """The first candidate a new local declared at `at` may take, reserved in its function for
        this run: nothing in scope there has it (a predeclared name only if the function uses it),
        no identifier of the function spells it, and no other rewrite of this run added it there."""
        function = top_level(at)
        reserved = self._reserved_locals.setdefault((src.path, function.start_byte), set())
        spelled = src.names_in(function, ("identifier", "type_identifier"))
        for name in candidates:
            if not name or name in reserved or name in spelled:
                continue
            found = self.lookup(src, at, name)
            if found is None or found.universe:
                reserved.add(name)
                return name
        return None

    def import_problem(self, src: SourceFile, at: Node, import_path: str) -> str:
        """Why `import_path` cannot be used by its own name at `at`, or "" when it can."""
        base = import_path.rsplit("/", 1)[-1]
        local = local_name(src, import_path)
        if local not in (None, base):
            return f"{import_path} is imported under another name in {src.path.name}"
        found = self.lookup(src, at, base)
        if found is not None and found.imported != import_path and not found.universe:
            return f"the name {base} means something else here ({found.kind} at {found.path.name}:{found.line})"
        return ""

    def exported_ok(self, name: str) -> bool:
        """Whether changing this function's signature stays inside the package's API promise."""
        if not name[:1].isupper():
            return True
        return self.package.is_main or self.package.is_internal or self.options.allow_api_change

    # Reporting

    def report(
        self,
        src: SourceFile,
        at: Node,
        edits: Sequence[Edit],
        *,
        targets: Iterable[EscapeFact],
        rationale: str,
        pattern: str,
        proven: str = "",
        unproven: str = "",
        add_imports: Iterable[str] = (),
        drop_imports: Iterable[str] = (),
        api_change: bool = False,
        allowed_new: Iterable[str] = (),
        proof: str = "escape",
        if_unproven: str = "",
        sites: Iterable[tuple[Path, int]] = (),
    ) -> None:
        """Propose a rewrite at `at`; `pattern` names one of the codemod's PATTERNS.

        A pattern that is not equivalent for every input needs `proven`: what shows its difference
        cannot arise here. Without it the rewrite is skipped with the difference as the reason, and
        `unproven` (what could tell the difference here, e.g. a line) when the codemod knows it.
        """
        targets = tuple(targets)
        kind = self.codemod.patterns.get(pattern)
        if kind is None:
            raise ValueError(f"{self.codemod.name} reports pattern {pattern!r}, which its PATTERNS do not declare")
        if kind.differs and not proven:
            detail = f" ({unproven})" if unproven else ""
            self.skip(src, at, f"not equivalent for every input: {kind.differs}{detail}", targets)
            return
        self.results.append(
            Proposal(
                codemod=self.codemod.name,
                package=self.package.import_path,
                path=src.path,
                line=src.line_of(at.start_byte),
                function=self.function_name(src, at),
                edits=tuple(edits),
                targets=targets,
                rationale=rationale,
                add_imports=tuple((src.path, imp) for imp in sorted(set(add_imports))),
                # In every file the edits touch: an import is dropped only where it is left unused.
                drop_imports=tuple(
                    (path, imp) for path in sorted({src.path, *(e.path for e in edits)}) for imp in drop_imports
                ),
                api_change=api_change,
                allowed_new=tuple(allowed_new),
                pattern=pattern,
                proof=proof,
                if_unproven=if_unproven,
                equivalence=f"{kind.differs}; taken because {proven}" if kind.differs else "",
                sites=tuple(sorted(set(sites))),
            )
        )

    def skip(self, src: SourceFile, at: Node, reason: str, targets: Iterable[EscapeFact] = ()) -> None:
        """Decline a match, with the one obstacle that really blocks it as the reason."""
        self.results.append(
            Skip(
                self.codemod.name,
                src.path,
                src.line_of(at.start_byte),
                self.function_name(src, at),
                reason,
                tuple(targets),
            )
        )
