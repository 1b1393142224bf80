"""Edits: byte ranges and their new bytes, applied in one place with import fix-ups and gofmt."""

from __future__ import annotations

import itertools
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from goescape.engine.errors import EditConflict
from goescape.engine.parsing import Node, SourceFile, import_specs, parse_bytes, walk
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


def used_qualifiers(src: SourceFile) -> set[str]:
    """Identifiers used as package qualifiers: `fmt` in `fmt.Println` or `io.Writer`."""
    names: set[str] = set()
    for node in walk(src.root):
        if node.type == "selector_expression":
            operand = node.child_by_field_name("operand")
            if operand is not None and operand.type == "identifier":
                names.add(src.text(operand))
        elif node.type == "qualified_type":
            pkg = node.child_by_field_name("package")
            if pkg is not None:
                names.add(src.text(pkg))
    return names


def fix_imports(src: SourceFile, add: Iterable[str], maybe_drop: Iterable[str]) -> bytes:
    """Add the imports asked for and drop those of `maybe_drop` that the file no longer uses."""
    specs = import_specs(src)
    used = used_qualifiers(src)
    drops = [
        _delete_spec(src, node)
        for node, path, name in specs
        if path in maybe_drop and not name and path.rsplit("/", 1)[-1] not in used
    ]
    if drops:
        # Deleting a spec can delete its whole declaration, so insertions look at the result.
        src = parse_bytes(src.path, apply_edits(src.data, drops, src.path))
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


def render_file(tc: Toolchain, src: SourceFile, proposals: Sequence[Proposal]) -> tuple[bytes, str]:
    """The file's new bytes with every proposal's edits, imports fixed and gofmt applied.

    Returns the bytes and an error text; the error is non-empty when the result does not parse
    or gofmt rejects it (a bad transform), in which case the bytes must not be used.
    """
    edits = [e for p in proposals for e in p.edits if e.path == src.path]
    add = {imp for p in proposals for path, imp in p.add_imports if path == src.path}
    drop = {imp for p in proposals for path, imp in p.drop_imports if path == src.path}
    try:
        data = apply_edits(src.data, edits, src.path)
        if add or drop:
            data = fix_imports(parse_bytes(src.path, data), add, drop)
    except EditConflict as exc:
        return src.data, exc.line()
    formatted, error = gofmt(tc, data)
    if error:
        return src.data, f"the rewrite does not format: {error.splitlines()[0]}"
    if parse_bytes(src.path, formatted).root.has_error and not src.root.has_error:
        return src.data, "the rewrite does not parse"
    return formatted, ""


def is_gofmt_clean(tc: Toolchain, src: SourceFile) -> bool:
    formatted, error = gofmt(tc, src.data)
    return not error and formatted == src.data
