"""Parsing Go with tree-sitter: the only module that imports tree_sitter."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache
from pathlib import Path

import tree_sitter
import tree_sitter_go

from goescape.engine.generated import is_generated

Node = tree_sitter.Node
Tree = tree_sitter.Tree

_LANGUAGE = tree_sitter.Language(tree_sitter_go.language())
FUNCTION_TYPES = ("function_declaration", "method_declaration", "func_literal")


@dataclass(frozen=True)
class SourceFile:
    """A Go file's bytes and its syntax tree; offsets are byte offsets into `data`.

    The tree is parsed on first use: a run that reuses cached facts and proposals reads the bytes only.
    """

    path: Path
    data: bytes

    @cached_property
    def tree(self) -> Tree:
        return _parser().parse(self.data)

    @property
    def root(self) -> Node:
        return self.tree.root_node

    def text(self, node: Node) -> str:
        return self.data[node.start_byte : node.end_byte].decode("utf-8", "replace")

    @cached_property
    def line_starts(self) -> tuple[int, ...]:
        """The byte offset of each line's start, computed once per file."""
        return line_starts(self.data)

    def offset(self, line: int, column: int) -> int:
        """Byte offset of a 1-based line and 1-based byte column, as the Go compiler reports them."""
        return self.line_starts[line - 1] + column - 1

    def line_of(self, offset: int) -> int:
        return bisect_right(self.line_starts, offset) if offset >= 0 else self.data.count(b"\n", 0, offset) + 1

    @cached_property
    def generated(self) -> bool:
        """A `// Code generated ... DO NOT EDIT.` line before the first text that is neither comment
        nor blank (Go's convention, go/ast.IsGenerated): only the file's header is read."""
        return is_generated(self.data)

    def own_literals(self, outer: Node) -> list[int]:
        """The start bytes of the func literals whose nearest enclosing function is `outer`, in source
        order; found once per function, as every closure of a long function asks for them."""
        span = (outer.start_byte, outer.end_byte)
        found = self._own_literals.get(span)
        if found is None:
            found = self._own_literals[span] = [n.start_byte for n in _own_literals(outer)]
        return found

    @cached_property
    def _own_literals(self) -> dict[tuple[int, int], list[int]]:
        return {}

    def names_in(self, node: Node, types: tuple[str, ...] = ("identifier",)) -> frozenset[str]:
        """The text of every node of these types under `node`, found once per node: codemods ask it
        of a function for each new name they give in it, and a long function has many."""
        key = (node.start_byte, node.end_byte, node.type, types)
        found = self._names_in.get(key)
        if found is None:
            found = self._names_in[key] = frozenset(self.text(n) for n in walk(node) if n.type in types)
        return found

    @cached_property
    def _names_in(self) -> dict[tuple[int, int, str, tuple[str, ...]], frozenset[str]]:
        return {}

    @property
    def package_name(self) -> str:
        for child in self.root.named_children:
            if child.type == "package_clause":
                ident = child.named_children[0] if child.named_children else None
                return self.text(ident) if ident is not None else ""
        return ""


@cache
def _parser() -> tree_sitter.Parser:
    return tree_sitter.Parser(_LANGUAGE)


def parse_bytes(path: Path, data: bytes, base: SourceFile | None = None) -> SourceFile:
    """A file of these bytes. With `base`, a file they are an edit of: tree-sitter parses again only
    what changed between the two (a rewrite of one line of a long file is checked at the cost of that
    line, not of the file)."""
    src = SourceFile(path=path, data=data)
    if base is not None:
        # Set as the cached `tree`, which is otherwise parsed from scratch on first use.
        src.__dict__["tree"] = base.tree if data == base.data else _parser().parse(data, _edited(base, data))
    return src


def _edited(base: SourceFile, data: bytes) -> Tree:
    """A copy of base's tree told which bytes changed: those between the common prefix and suffix."""
    old = base.data
    prefix = _common(len(old), len(data), lambda n: old[:n] == data[:n])
    most = min(len(old), len(data)) - prefix
    suffix = _common(most, most, lambda n: old[len(old) - n :] == data[len(data) - n :])
    old_end, new_end = len(old) - suffix, len(data) - suffix
    tree = base.tree.copy()
    tree.edit(prefix, old_end, new_end, _point(old, prefix), _point(old, old_end), _point(data, new_end))
    return tree


def _common(a: int, b: int, same: Callable[[int], bool]) -> int:
    """The largest n <= min(a, b) with same(n), by bisection (same holds up to some n, then never)."""
    lo, hi = 0, min(a, b)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if same(mid) else (lo, mid - 1)
    return lo


def _point(data: bytes, offset: int) -> tuple[int, int]:
    """tree-sitter's (row, byte column) of an offset."""
    return data.count(b"\n", 0, offset), offset - (data.rfind(b"\n", 0, offset) + 1)


# The run's `--overlay` (path → the file read instead), as the go command sees the same files.
_OVERLAY: dict[Path, Path] = {}


def use_overlay(replacements: Mapping[Path, Path | None]) -> None:
    """Read each replaced path from its replacement from now on (the CLI sets this once per run)."""
    _OVERLAY.clear()
    _OVERLAY.update({path: to for path, to in replacements.items() if to is not None})


def parse_file(path: Path) -> SourceFile:
    """A file parsed as the go command sees it: through the run's overlay, if any."""
    return parse_bytes(path, _OVERLAY.get(path, path).read_bytes())


@lru_cache(maxsize=64)
def line_starts(data: bytes) -> tuple[int, ...]:
    starts = [0]
    starts.extend(m.end() for m in re.finditer(rb"\n", data))
    return tuple(starts)


@cache
def compile_query(pattern: str) -> tree_sitter.Query:
    return tree_sitter.Query(_LANGUAGE, pattern)


def matches(pattern: str, node: Node, start: int | None = None, end: int | None = None) -> list[dict[str, list[Node]]]:
    """Every match of a tree-sitter query under `node`, optionally limited to a byte range."""
    cursor = tree_sitter.QueryCursor(compile_query(pattern))
    if start is not None and end is not None:
        cursor.set_byte_range(start, end)
    return [captures for _, captures in cursor.matches(node)]


def walk(node: Node) -> Iterator[Node]:
    """Every named node under `node`, depth first, `node` included."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.named_children))


def node_at(src: SourceFile, offset: int) -> Node:
    return src.root.named_descendant_for_byte_range(offset, offset) or src.root


def enclosing(node: Node | None, *types: str) -> Node | None:
    while node is not None and node.type not in types:
        node = node.parent
    return node


def top_level(node: Node) -> Node:
    while node.parent is not None and node.parent.parent is not None:
        node = node.parent
    return node


def near_error(node: Node) -> bool:
    """True when the node's top-level declaration, or one beside it, holds an ERROR or MISSING node.

    tree-sitter-go lags the language (Go 1.26's new(expr), 1.27's generic methods), and an edit
    next to a misparse could land in the wrong place, so such regions are never edited.
    """
    decl = top_level(node)
    neighbours = [decl, decl.prev_sibling, decl.next_sibling]
    return any(n is not None and (n.has_error or n.is_error or n.is_missing) for n in neighbours)


def function_name(src: SourceFile, fn: Node, init_number: int | None = None) -> str:
    """The compiler's (and pprof's) spelling of the function that holds `fn`.

    `F`, `T.M`, `(*T).M`; generic ones with their type arguments elided, as pprof and
    runtime.FuncForPC spell every instantiation (`Map[...]`, `(*List[...]).Push`); a closure is
    numbered in source order within the function that declares it (`F.func1`, nested `F.func1.2`);
    the n-th `init` of a package is `init.<n>` when its `init_number` is given; closures in
    package-level initializers belong to `init`.
    """
    literals: list[Node] = []
    node: Node | None = fn
    while node is not None and node.parent is not None and node.parent.type != "source_file":
        if node.type == "func_literal":
            literals.append(node)
        node = node.parent
    if node is None:
        return ""
    if node.type == "func_literal":
        literals.append(node)
    base = _declared_name(src, node)
    if base == "init" and node.type == "function_declaration" and init_number is not None:
        base = f"init.{init_number}"
    outer = node
    for depth, literal in enumerate(reversed(literals)):
        before = bisect_right(src.own_literals(outer), literal.start_byte - 1)
        base += f".func{before + 1}" if depth == 0 else f".{before + 1}"
        outer = literal
    return base


def _declared_name(src: SourceFile, decl: Node) -> str:
    name = decl.child_by_field_name("name")
    if decl.type == "method_declaration" and name is not None:
        receiver = decl.child_by_field_name("receiver")
        rtype = ""
        if receiver is not None:
            for ident in walk(receiver):
                if ident.type == "type_identifier":
                    rtype = src.text(ident)
                    break
            rtype += "[...]" if any(n.type == "generic_type" for n in walk(receiver)) else ""
            pointer = any(n.type == "pointer_type" for n in walk(receiver))
            rtype = f"(*{rtype})" if pointer else rtype
        return f"{rtype}.{src.text(name)}"
    if decl.type == "function_declaration" and name is not None:
        generic = decl.child_by_field_name("type_parameters") is not None
        return src.text(name) + ("[...]" if generic else "")
    return "init" if decl.type == "var_declaration" else ""


def _own_literals(outer: Node) -> list[Node]:
    """The func literals whose nearest enclosing function is `outer`, in source order."""
    found: list[Node] = []
    stack = list(reversed(outer.children))
    while stack:
        node = stack.pop()
        if node.type == "func_literal":
            found.append(node)
            continue
        stack.extend(reversed(node.children))
    return found


def import_specs(src: SourceFile) -> list[tuple[Node, str, str]]:
    """(spec node, import path, local name or "") for every import in the file."""
    specs = []
    declarations = [n for n in src.root.named_children if n.type == "import_declaration"]
    for node in (spec for decl in declarations for spec in walk(decl)):
        if node.type == "import_spec":
            path_node = node.child_by_field_name("path")
            name_node = node.child_by_field_name("name")
            if path_node is not None:
                specs.append((node, src.text(path_node).strip('"`'), src.text(name_node) if name_node else ""))
    return specs


def local_name(src: SourceFile, import_path: str) -> str | None:
    """The name a file refers to an import by, or None when it does not import it."""
    for _, path, name in import_specs(src):
        if path == import_path:
            return name or import_path.rsplit("/", 1)[-1]
    return None
