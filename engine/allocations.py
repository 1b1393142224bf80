"""Allocations at run time: a generated test calls a changed function under testing.AllocsPerRun.

The test file exists only in the overlay, never in the user's tree. Arguments are built from
simple literals: integers 1000 (100 for 8-bit kinds), a 63-byte mixed-case string, slices of 100
elements (strings filled with it),
maps of 100 entries (integer or string keys), a new zero T for a *T, io.Discard for an io.Writer,
context.Background() for a context, and the zero value of anything else. They are held in
package-level variables, so that an inlined call cannot fold them as constants; a method is called
on a zero receiver; results go to package-level sinks of their declared types, as in real code
where a result is kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from goescape.engine.parsing import Node, SourceFile, function_name, local_name, walk

HARNESS_NAME = "zz_goescape_allocs_test.go"
# Mixed case, so that ToLower and friends have work to do, as with real text.
STRING = '"' + "GoEscape-" * 7 + '"'
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
    """One generated measurement: the statement that calls the function, its variables and imports."""

    index: int
    statement: str
    variables: tuple[str, ...]  # "name type = value" or "name type" declarations: arguments and sinks
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
        return STRING, imports
    if text == "bool":
        return "true", imports
    if typ.type == "slice_type":
        element = typ.child_by_field_name("element")
        if element is not None and src.text(element) == "string":
            # Empty strings would make every concatenation and conversion free.
            fill = f"s := make({text}, 100); for i := range s {{ s[i] = {STRING} }}; return s"
            return f"func() {text} {{ {fill} }}()", imports
        return f"make({text}, 100)", imports
    if typ.type == "map_type":
        key = typ.child_by_field_name("key")
        key_text = src.text(key) if key is not None else ""
        if key_text in _INTS or key_text == "string":
            index = "string(rune(256 + i))" if key_text == "string" else f"{key_text}(i)"
            element = typ.child_by_field_name("value")
            zero = f"*new({src.text(element)})" if element is not None else "nil"
            fill = f"m := make({text}, 100); for i := 0; i < 100; i++ {{ m[{index}] = {zero} }}; return m"
            return f"func() {text} {{ {fill} }}()", imports
        return f"{text}{{}}", imports
    if typ.type == "pointer_type" and typ.named_children:
        return f"new({src.text(typ.named_children[0])})", imports
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
    """The measurement of a function in `src`, named as the compiler does (`F`, `(*T).M`), or why it cannot be built."""
    fn = next(
        (
            n
            for n in src.root.named_children
            if n.type in ("function_declaration", "method_declaration") and function_name(src, n) == function
        ),
        None,
    )
    name_node = fn.child_by_field_name("name") if fn is not None else None
    if fn is None or name_node is None:
        return f"no function {function} in {src.path.name}"
    function = src.text(name_node)
    if fn.child_by_field_name("type_parameters") is not None:
        return "a generic function needs type arguments"
    variables: list[str] = []
    imports: set[str] = set()
    callee = function
    receiver = fn.child_by_field_name("receiver") if fn.type == "method_declaration" else None
    if receiver is not None:
        rtype = next((d.child_by_field_name("type") for d in receiver.named_children), None)
        if rtype is None or any(n.type == "generic_type" for n in walk(rtype)):
            return "a method of a generic type needs type arguments"
        value, needed = _argument(src, rtype)
        imports |= needed
        variables.append(f"goescapeRecv{index} {src.text(rtype)} = {value}")
        callee = f"goescapeRecv{index}.{function}"
    args: list[str] = []
    params = fn.child_by_field_name("parameters")
    for param in params.named_children if params is not None else []:
        typ = param.child_by_field_name("type")
        if param.type == "variadic_parameter_declaration" or typ is None:
            continue
        value, needed = _argument(src, typ)
        imports |= needed
        for _ in range(max(1, len(param.children_by_field_name("name")))):
            arg = f"goescapeArg{index}_{len(args)}"
            variables.append(f"{arg} {src.text(typ)} = {value}")
            args.append(arg)
    result = fn.child_by_field_name("result")
    types: list[Node] = []
    if result is not None and result.type == "parameter_list":
        for decl in result.named_children:
            typ = decl.child_by_field_name("type")
            if typ is not None:
                types += [typ] * max(1, len(decl.children_by_field_name("name")))
    elif result is not None:
        types = [result]
    sinks = [f"goescapeSink{index}_{i}" for i in range(len(types))]
    variables += [f"{sink} {src.text(t)}" for sink, t in zip(sinks, types, strict=True)]
    for t in types:
        imports |= _qualifier_imports(src, t)
    call = f"{callee}({', '.join(args)})"
    statement = f"{', '.join(sinks)} = {call}" if sinks else call
    return Call(index, statement, tuple(variables), frozenset(imports))


def harness(package: str, calls: list[Call]) -> str:
    """A test file measuring each call: `GOESCAPE-ALLOCS <index> <allocs/op>` in the -v output."""
    imports = sorted({"testing", *(i for c in calls for i in c.imports)})
    out = [f"package {package}\n\nimport (\n"]
    out += [f'\t"{imp}"\n' for imp in imports]
    out.append(")\n")
    for c in calls:
        out += [f"\nvar {variable}\n" for variable in c.variables]
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
