"""Allocations at run time: a generated test calls a changed function under testing.AllocsPerRun.

The test file exists only in the overlay, never in the user's tree. Arguments are built from
simple literals: integers 1000 (100 for 8-bit kinds), a 63-byte string, slices of 100 elements,
empty maps, io.Discard for an io.Writer, context.Background() for a context, and the zero value
of anything else; results go to package-level sinks of their declared types, as in real code
where a result is kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from goescape.engine.edits import local_name
from goescape.engine.parsing import Node, SourceFile, walk

HARNESS_NAME = "zz_goescape_allocs_test.go"
_LINE = re.compile(r"GOESCAPE-ALLOCS (\d+) (\S+)")
_SMALL_INTS = {"int8", "uint8", "byte"}
_INTS = {
    "int",
    "int16",
    "int32",
    "int64",
    "uint",
    "uint16",
    "uint32",
    "uint64",
    "uintptr",
    "rune",
    "float32",
    "float64",
}
_SPECIAL = {"io.Writer": ("io.Discard", "io"), "context.Context": ("context.Background()", "context")}


@dataclass(frozen=True)
class Call:
    """One generated measurement: the statement that calls the function, its sinks and imports."""

    index: int
    statement: str
    sinks: tuple[str, ...]  # "name type" declarations
    imports: frozenset[str]


def _argument(src: SourceFile, typ: Node) -> tuple[str, set[str]]:
    text = src.text(typ)
    if text in _SPECIAL:
        value, imp = _SPECIAL[text]
        return value, {imp}
    imports = _qualifier_imports(src, typ)
    if text in _SMALL_INTS:
        return "100", imports
    if text in _INTS:
        return "1000", imports
    if text == "string":
        return '"' + "goescape-" * 7 + '"', imports
    if text == "bool":
        return "true", imports
    if typ.type == "slice_type":
        return f"make({text}, 100)", imports
    if typ.type == "map_type":
        return f"{text}{{}}", imports
    return f"*new({text})", imports


def _qualifier_imports(src: SourceFile, typ: Node) -> set[str]:
    """Import paths a type's text needs (`http.Header` needs net/http), looked up in its file."""
    needed = set()
    for node in walk(typ):
        if node.type == "qualified_type" and (pkg := node.child_by_field_name("package")) is not None:
            name = src.text(pkg)
            path = next((p for p in _imports(src) if local_name(src, p) == name), None)
            if path is not None:
                needed.add(path)
    return needed


def _imports(src: SourceFile) -> list[str]:
    return [
        src.text(n.child_by_field_name("path") or n).strip('"`')
        for decl in src.root.named_children
        if decl.type == "import_declaration"
        for n in walk(decl)
        if n.type == "import_spec"
    ]


def call_for(src: SourceFile, function: str, index: int) -> Call | str:
    """The measurement of a plain function in `src`, or why it cannot be built."""
    fn = next(
        (
            n
            for n in src.root.named_children
            if n.type in ("function_declaration", "method_declaration")
            and (name := n.child_by_field_name("name")) is not None
            and src.text(name) == function
        ),
        None,
    )
    if fn is None:
        return f"no function {function} in {src.path.name}"
    if fn.type == "method_declaration":
        return "a method needs a receiver value to call it on"
    if fn.child_by_field_name("type_parameters") is not None:
        return "a generic function needs type arguments"
    args: list[str] = []
    imports: set[str] = set()
    params = fn.child_by_field_name("parameters")
    for param in params.named_children if params is not None else []:
        typ = param.child_by_field_name("type")
        if param.type == "variadic_parameter_declaration" or typ is None:
            continue
        value, needed = _argument(src, typ)
        imports |= needed
        args += [value] * max(1, len(param.children_by_field_name("name")))
    result = fn.child_by_field_name("result")
    types: list[Node] = []
    if result is not None and result.type == "parameter_list":
        for decl in result.named_children:
            typ = decl.child_by_field_name("type")
            if typ is not None:
                types += [typ] * max(1, len(decl.children_by_field_name("name")))
    elif result is not None:
        types = [result]
    sinks = tuple(f"goescapeSink{index}_{i} {src.text(t)}" for i, t in enumerate(types))
    for t in types:
        imports |= _qualifier_imports(src, t)
    call = f"{function}({', '.join(args)})"
    targets = ", ".join(s.split(" ", 1)[0] for s in sinks)
    statement = f"{targets} = {call}" if sinks else call
    return Call(index, statement, sinks, frozenset(imports))


def harness(package: str, calls: list[Call]) -> str:
    """A test file measuring each call: `GOESCAPE-ALLOCS <index> <allocs/op>` in the -v output."""
    imports = sorted({"testing", *(i for c in calls for i in c.imports)})
    out = [f"package {package}\n\nimport (\n"]
    out += [f'\t"{imp}"\n' for imp in imports]
    out.append(")\n")
    for c in calls:
        out += [f"\nvar {sink}\n" for sink in c.sinks]
        out.append(
            f"\nfunc TestGoescapeAllocs{c.index}(t *testing.T) {{\n"
            "\tdefer func() {\n"
            "\t\tif r := recover(); r != nil {\n"
            f'\t\t\tt.Logf("GOESCAPE-ALLOCS {c.index} panic")\n'
            "\t\t}\n"
            "\t}()\n"
            f'\tt.Logf("GOESCAPE-ALLOCS {c.index} %v", testing.AllocsPerRun(100, func() {{ {c.statement} }}))\n'
            "}\n"
        )
    return "".join(out)


def parse_counts(output: str) -> dict[int, float | str]:
    """Index → allocs/op, or "panic" when the call panicked with the generated arguments."""
    counts: dict[int, float | str] = {}
    for index, value in _LINE.findall(output):
        counts[int(index)] = value if value == "panic" else float(value)
    return counts
