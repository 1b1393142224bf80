"""Reorder the fields of a struct the heap allocates so that no padding sits between them.

Go lays fields out in declaration order, each at its alignment: `{ok bool; id int64; name string;
done bool}` is 40 bytes on amd64, and the allocator gives a 40-byte object a 48-byte slot. Sorted
by alignment (stable, so fields of equal alignment keep their order) it is 32 bytes and takes a
32-byte slot: every `&entry{...}` saves 16 B/op. Only a type the compiler's facts show on the heap
(`&T{...}` or `new(T)` escapes, `moved to heap: t`) whose slot shrinks is rewritten: sizes come from
go/types for the target GOARCH, slots from the runtime's size classes, and the allocations stay, so
B/op measured by a benchmark proves it. Comments and tags move with their fields. Left alone where
the order can be seen: an unkeyed literal, a value holding T converted to an interface (fmt's %v,
encoding/json and encoding/binary read fields in order) or to unsafe.Pointer, unsafe.Offsetof or
Sizeof, a raw 64-bit sync/atomic field, generic code given T, a comparison of a T holding an
interface, a structs.HostLayout field, cgo or assembly in the package, a blank field, and an
exported type, or one the exported API reaches, without --allow-api-change.

Before:  type entry struct { ok bool; id int64; name string; done bool }  // 40 bytes, 48-byte slot
After:   type entry struct { id int64; name string; ok bool; done bool }  // 32 bytes, 32-byte slot
"""

from __future__ import annotations

from goescape.engine.codemod import Match, Pattern
from goescape.engine.edits import Edit
from goescape.engine.facts import EscapeFact, Kind
from goescape.engine.gotypes import Layout
from goescape.engine.parsing import Node, SourceFile, node_at
from goescape.engine.passes import Pass

NAME = "struct-layout"
# The compiler reports allocations, not declarations: every file is read for struct types.
ANCHORED = False
PATTERNS = (
    Pattern(
        "reorder",  # fields sorted by alignment, descending
        differs="differs where the field order can be seen: reflection (fmt's %v, encoding/json), unkeyed "
        "literals, unsafe offsets and sizes, 64-bit atomics on 32-bit platforms, and == on a struct whose "
        "interface fields hold uncomparable values (the first one compared panics)",
    ),
)
QUERY = """
(source_file (type_declaration (type_spec name: (type_identifier) @name type: (struct_type) @struct) @spec))
"""

# Bytes per object of each small size class: Go's internal/runtime/gc/sizeclasses.go (go1.26).
_SIZE_CLASSES = (
    *(8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256, 288, 320, 352, 384),
    *(416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792, 2048, 2304, 2688),
    *(3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728, 10240, 10880, 12288),
    *(13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672, 32768),
)
_PAGE = 8192  # a larger object takes whole pages
_TINY = 16  # pointer-free objects under 16 bytes share 16-byte blocks (runtime/malloc.go, maxTinySize)
_FLAG = "--allow-api-change reorders it anyway"
_EXPORTED = f"exported: importers may build it with unkeyed literals or encode it; {_FLAG}"


def propose(match: Match, pass_: Pass) -> None:
    src, spec, name, struct = match.src, match.one("spec"), match.one("name"), match.one("struct")
    fields = struct.named_children[0] if struct is not None and struct.named_children else None
    if spec is None or name is None or fields is None:
        return
    layout = pass_.oracle.layout(src.path, name.start_byte, name.end_byte)
    targets = pass_.once(_heap_sites).get(layout.type, []) if layout is not None else []
    if layout is None or layout.reordered_size >= layout.size or not targets:
        return
    typ, old, new = layout.type, _slot(layout, layout.size), _slot(layout, layout.reordered_size)
    edit = _reordered(src, fields, layout)
    why = _saving(layout, old, new) or (
        f"{typ} has a structs.HostLayout field: its layout is the C ABI's" * layout.host_layout
    )
    why = why or (edit if isinstance(edit, str) else "")
    seen = None if why else pass_.oracle.layout(src.path, name.start_byte, name.end_byte, observe=True)
    why = why or _seen(pass_, seen or layout) or ("" if pass_.exported_ok(typ) else _EXPORTED)
    if not why and seen is not None and seen.api is not None and not pass_.exported_ok(seen.api[0]):
        why = f"the exported API reaches {typ} ({': '.join(seen.api)}), so importers may print or encode it; {_FLAG}"
    if why or isinstance(edit, str):
        return pass_.skip(src, spec, why, targets)
    pass_.report(
        src,
        spec,
        [edit],
        targets=targets,
        rationale=f"sorted by alignment, {typ} shrinks from {layout.size} to {layout.reordered_size} bytes on "
        f"{layout.goarch}, and each allocation from a {old}-byte to a {new}-byte size class",
        pattern="reorder",
        proven=f"go/types finds nothing in the module that tells {typ}'s field order: no unkeyed literal, no "
        "conversion to an interface or unsafe.Pointer, no unsafe.Offsetof or Sizeof, raw 64-bit atomic, "
        "instantiation of generic code or comparison of interface fields",
        api_change=typ[:1].isupper(),
        proof="runtime",
        sites=[(f.path, f.offset) for f in targets],  # the allocations, whose functions are measured
    )


def _heap_sites(pass_: Pass) -> dict[str, list[EscapeFact]]:
    """The package's heap allocations of its own struct types, by type name: `&T{...}` and `new(T)`
    that escape, and variables of type T moved to the heap."""
    out: dict[str, list[EscapeFact]] = {}
    for fact in pass_.facts:
        src = pass_.source(fact.path)
        node: Node | None = node_at(src, fact.offset)
        if fact.kind is Kind.ESCAPES and fact.expr.startswith(("&", "new(")):
            node = _allocation(src, node, fact.offset)
        elif fact.kind is not Kind.MOVED or node is None or node.type != "identifier":
            node = None
        typ = pass_.type_of(src, node) if node is not None else None
        typ = typ.elem if typ is not None and fact.kind is Kind.ESCAPES else typ
        if typ is not None and typ.named and typ.kind == "struct" and typ.pkg == pass_.package.import_path:
            out.setdefault(typ.text, []).append(fact)
    return out


def _allocation(src: SourceFile, node: Node | None, offset: int) -> Node | None:
    """The `&T{...}` the compiler places at its `&`, or the `new(T)` it places at its `(`."""
    while node is not None and node.start_byte >= offset - len("new"):
        if node.type == "unary_expression" and node.start_byte == offset and src.text(node).startswith("&"):
            return node
        function, args = node.child_by_field_name("function"), node.child_by_field_name("arguments")
        if node.type == "call_expression" and function is not None and src.text(function) == "new":
            return node if args is not None and args.start_byte == offset else None
        node = node.parent
    return None


def _slot(layout: Layout, size: int) -> int:
    """The bytes the allocator hands an object of `size`: its size class, or whole pages."""
    if layout.pointers and size > layout.word * layout.word * 8:
        size += 8  # the malloc header of a large scanned object (gc.MinSizeForMallocHeader)
    if size > _SIZE_CLASSES[-1]:
        return -(-size // _PAGE) * _PAGE
    return next(c for c in _SIZE_CLASSES if c >= size)


def _saving(layout: Layout, old: int, new: int) -> str:
    """Why the smaller layout would not lower B/op, or ""."""
    typ, size, smaller = layout.type, layout.size, layout.reordered_size
    if not layout.pointers and size < _TINY:
        return f"{typ} is {size} bytes with no pointers: the tiny allocator packs it, so no size class decides"
    if new == old:
        return f"sorted by alignment, {typ} shrinks from {size} to {smaller} bytes, but both take a {old}-byte size class: it saves no B/op"
    return ""


def _seen(pass_: Pass, layout: Layout) -> str:
    """Why the field order of the type may be visible, or ""."""
    typ = layout.type
    if layout.cgo:
        return f"the package has cgo files ({', '.join(layout.cgo)}), whose C code may mirror {typ}'s layout"
    if asm := sorted(p.name for p in pass_.package.dir.glob("*.s")):
        return f"the package has assembly ({', '.join(asm)}), which may read {typ}'s fields by offset"
    if not layout.observed:
        return ""
    first, more = layout.observed[0], len(layout.observed) - 1
    also = f" (and {more} more)" if more else ""
    return f"the field order of {typ} can be seen at {first.describe()}{also}"


def _reordered(src: SourceFile, fields: Node, layout: Layout) -> Edit | str:
    """The edit that lists the field declarations in the layout's order, each with its comments."""
    chunks = _chunks(src, fields)
    if isinstance(chunks, str):
        return chunks
    owned: list[list[int]] = []
    for decl, _, _ in chunks:
        names = [src.text(n) for n in decl.children_by_field_name("name")] or [""]
        first = sum(len(o) for o in owned)
        owned.append(list(range(first, first + len(names))))
        if "_" in names:
            return f"{layout.type} has a blank field, which is often padding put there on purpose"
    count = sum(len(o) for o in owned)
    if count != len(layout.fields):
        return f"tree-sitter-go sees {count} fields in {layout.type}, go/types {len(layout.fields)}"
    place = {field: i for i, field in enumerate(layout.order)}
    if any(place[o[-1]] - place[o[0]] != len(o) - 1 for o in owned):
        return f"fields declared together in {layout.type} would be parted"
    ordered = sorted(range(len(chunks)), key=lambda i: place[owned[i][0]])
    start, end = chunks[0][1], chunks[-1][2]
    one_line = src.line_of(fields.start_byte) == src.line_of(fields.end_byte)
    text = ("; " if one_line else "\n").join(src.data[chunks[i][1] : chunks[i][2]].decode() for i in ordered)
    return Edit(src.path, start, end, text.encode())


def _chunks(src: SourceFile, fields: Node) -> list[tuple[Node, int, int]] | str:
    """Each field declaration with the byte span of its own text: the comment lines right above it
    and a comment after it on its last line."""
    chunks: list[tuple[Node, int, int]] = []
    above: list[Node] = []
    brace = fields.start_point.row
    for child in fields.named_children:
        row = child.start_point.row
        if child.type == "comment" and chunks and row == chunks[-1][0].end_point.row:
            chunks[-1] = (chunks[-1][0], chunks[-1][1], child.end_byte)
        elif child.type == "comment" and not chunks and not above and row == brace:
            continue  # a comment on the line of `{` stays there
        elif child.type == "comment":
            above.append(child)
        elif child.type == "field_declaration":
            rows = [n.start_point.row for n in above[1:]] + [row]
            if above and any(r != n.end_point.row + 1 for n, r in zip(above, rows, strict=True)):
                return "a comment in the struct stands apart from its fields; where it belongs is unclear"
            chunks.append((child, above[0].start_byte if above else child.start_byte, child.end_byte))
            above = []
    if above:
        return "a comment after the last field stands apart from its fields; where it belongs is unclear"
    return chunks if chunks else "the struct has no fields"
