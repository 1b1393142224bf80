"""Edits: byte ranges and their new bytes, applied in one place with import fix-ups and gofmt."""

from __future__ import annotations

import itertools
import subprocess
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from goescape.engine.errors import EditConflict
from goescape.engine.parsing import Node, SourceFile, import_specs, matches, parse_bytes, walk
from goescape.engine.toolchain import Toolchain

if TYPE_CHECKING:
    from goescape.engine.proposals import Proposal


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


def apply_edits(data: bytes, edits: Sequence[Edit], path: Path | None = None) -> bytes:
    """Apply non-overlapping edits to one file's bytes; overlapping edits are an EditConflict."""
    ordered = sorted(edits, key=lambda e: (e.start, e.end))
    for before, after in itertools.pairwise(ordered):
        if after.start < before.end or (after.start == before.start and before.start == before.end == after.end):
            raise EditConflict(
                f"edits overlap at bytes {before.start}-{before.end} and {after.start}-{after.end}", path=path
            )
    out = bytearray(data)
    for edit in reversed(ordered):
        out[edit.start : edit.end] = edit.new
    return bytes(out)


def overlaps(a: Proposal, b: Proposal) -> bool:
    for x in a.edits:
        for y in b.edits:
            if x.path == y.path and x.start < y.end and y.start < x.end:
                return True
            if x.path == y.path and x.start == y.start:
                return True
    return False


class EditIndex:
    """The edits of some proposals by file and region of 1 KiB, so that whether another proposal
    overlaps any of them (as `overlaps` says) is answered without comparing every pair."""

    _REGION = 1024

    def __init__(self) -> None:
        self._spans: dict[tuple[Path, int], list[tuple[int, int]]] = {}

    @classmethod
    def _regions(cls, edit: Edit) -> range:
        # Every byte an edit covers; an insertion, the byte it stands before.
        return range(edit.start // cls._REGION, max(edit.start, edit.end - 1) // cls._REGION + 1)

    def add(self, p: Proposal) -> None:
        for e in p.edits:
            for region in self._regions(e):
                self._spans.setdefault((e.path, region), []).append((e.start, e.end))

    def overlaps(self, p: Proposal) -> bool:
        for y in p.edits:
            for region in self._regions(y):
                for start, end in self._spans.get((y.path, region), ()):
                    if (start < y.end and y.start < end) or start == y.start:
                        return True
        return False


_QUALIFIERS = """
(selector_expression operand: (identifier) @q)
(qualified_type package: (_) @q)
"""


def used_qualifiers(src: SourceFile) -> set[str]:
    """Identifiers used as package qualifiers: `fmt` in `fmt.Println` or `io.Writer`."""
    return {src.text(n) for captures in matches(_QUALIFIERS, src.root) for n in captures["q"]}


def fix_imports(src: SourceFile, add: Iterable[str], maybe_drop: Iterable[str]) -> bytes:
    """Add the imports asked for and drop those of `maybe_drop` that the file no longer uses."""
    maybe = [(node, path) for node, path, name in import_specs(src) if path in maybe_drop and not name]
    used = used_qualifiers(src) if maybe else set()
    drops = [_delete_spec(src, node) for node, path in maybe if path.rsplit("/", 1)[-1] not in used]
    if drops:
        # Deleting a spec can delete its whole declaration, so insertions look at the result.
        src = parse_bytes(src.path, apply_edits(src.data, drops, src.path), base=src)
    missing = sorted(set(add) - {path for _, path, _ in import_specs(src)})
    if missing:
        return apply_edits(src.data, [_insert_imports(src, missing)], src.path)
    return src.data


def _delete_spec(src: SourceFile, spec: Node) -> Edit:
    parent = spec.parent
    if parent is not None and parent.type == "import_spec_list":
        siblings = [c for c in parent.named_children if c.type == "import_spec"]
        if len(siblings) == 1 and parent.parent is not None:
            return _delete_lines(src, parent.parent)
        return _delete_lines(src, spec)
    decl = parent if parent is not None and parent.type == "import_declaration" else spec
    return _delete_lines(src, decl)


def _delete_lines(src: SourceFile, node: Node) -> Edit:
    start = src.data.rfind(b"\n", 0, node.start_byte) + 1
    end = src.data.find(b"\n", node.end_byte)
    end = len(src.data) if end < 0 else end + 1
    return Edit(src.path, start, end, b"")


def _insert_imports(src: SourceFile, paths: Sequence[str]) -> Edit:
    lines = "".join(f'\t"{p}"\n' for p in paths)
    every = [n for n in src.root.named_children if n.type == "import_declaration"]
    # cgo's `import "C"` stands alone under its preamble comment: never join another import to it.
    cgo = [
        d for d in every if any(src.text(s).strip() == '"C"' for s in walk(d) if s.type == "interpreted_string_literal")
    ]
    decls = [d for d in every if d not in cgo]
    for decl in decls:
        block = next((c for c in decl.named_children if c.type == "import_spec_list"), None)
        if block is None:
            continue
        std = [s for s in block.named_children if s.type == "import_spec" and _is_std(src, s)]
        # Into the standard-library group, so that gofmt sorts it among its peers.
        anchor = std[-1] if std else None
        if anchor is not None:
            end = src.data.find(b"\n", anchor.end_byte) + 1
            return Edit(src.path, end, end, lines.encode())
        start = src.data.find(b"\n", block.start_byte) + 1
        return Edit(src.path, start, start, lines.encode())
    if decls:
        decl = decls[0]
        spec_text = src.data[decl.start_byte : decl.end_byte].decode().removeprefix("import").strip()
        new = "import (\n" + f"\t{spec_text}\n" + lines + ")"
        return Edit(src.path, decl.start_byte, decl.end_byte, new.encode())
    after = cgo[-1] if cgo else next(n for n in src.root.named_children if n.type == "package_clause")
    text = f'import "{paths[0]}"' if len(paths) == 1 else "import (\n" + lines + ")"
    return Edit(src.path, after.end_byte, after.end_byte, f"\n\n{text}".encode())


def _is_std(src: SourceFile, spec: Node) -> bool:
    path_node = spec.child_by_field_name("path")
    if path_node is None:
        return False
    first = src.text(path_node).strip('"`').split("/", 1)[0]
    return "." not in first


def gofmt(tc: Toolchain, data: bytes) -> tuple[bytes, str]:
    """gofmt's output and its error text (empty when it succeeded)."""
    out = subprocess.run([str(tc.gofmt)], input=data, capture_output=True, check=False, env=tc.environ())
    if out.returncode != 0:
        return data, out.stderr.decode("utf-8", "replace").strip()
    return out.stdout, ""


# Each file's renders by toolchain and set of proposals (edits are applied in position order, so
# the order proposals come in changes nothing), kept while the parsed file lives (a run's session):
# verification renders every proposal alone and each batch, and the report each verified one again.
_RENDERS: weakref.WeakKeyDictionary[SourceFile, dict[tuple[Toolchain, frozenset[Proposal]], tuple[bytes, str]]] = (
    weakref.WeakKeyDictionary()
)


def render_file(tc: Toolchain, src: SourceFile, proposals: Sequence[Proposal]) -> tuple[bytes, str]:
    """The file's new bytes with every proposal's edits, imports fixed and gofmt applied.

    Returns the bytes and an error text; the error is non-empty when the result does not parse
    or gofmt rejects it (a bad transform), in which case the bytes must not be used.
    """
    renders = _RENDERS.setdefault(src, {})
    key = (tc, frozenset(proposals))
    if key not in renders:
        renders[key] = _render(tc, src, proposals)
    return renders[key]


def _render(tc: Toolchain, src: SourceFile, proposals: Sequence[Proposal]) -> tuple[bytes, str]:
    edits = [e for p in proposals for e in p.edits if e.path == src.path]
    add = {imp for p in proposals for path, imp in p.add_imports if path == src.path}
    drop = {imp for p in proposals for path, imp in p.drop_imports if path == src.path}
    try:
        data = apply_edits(src.data, edits, src.path)
        if add or drop:
            data = fix_imports(parse_bytes(src.path, data, base=src), add, drop)
    except EditConflict as exc:
        return src.data, exc.line()
    formatted, error = gofmt(tc, data)
    if error:
        return src.data, f"the rewrite does not format: {error.splitlines()[0]}"
    if not src.root.has_error and parse_bytes(src.path, formatted, base=src).root.has_error:
        return src.data, "the rewrite does not parse"
    return formatted, ""


def is_gofmt_clean(tc: Toolchain, src: SourceFile) -> bool:
    formatted, error = gofmt(tc, src.data)
    return not error and formatted == src.data
