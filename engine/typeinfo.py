"""Types read off the syntax tree: what a declaration in scope says an expression's type is.

There is no type checker here; a wrong guess fails to compile and the verifier rejects it, so
these rules only need to be right often and never to silently change behaviour.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from goescape.engine.parsing import Node, SourceFile, walk

BASIC = {
    "string", "bool", "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64",
    "uintptr", "byte", "rune", "float32", "float64",
}  # fmt: skip
_INTEGERS = BASIC - {"string", "bool", "float32", "float64"}
_STRING_FUNCS = {
    "strconv.Itoa", "strconv.Quote", "strconv.FormatInt", "strconv.FormatUint", "strconv.FormatBool",
    "strings.ToLower", "strings.ToUpper", "strings.TrimSpace", "strings.Join", "strings.Repeat",
    "strings.ReplaceAll", "strings.Replace", "strings.Trim", "strings.TrimPrefix", "strings.TrimSuffix",
    "strings.Title", "filepath.Join", "filepath.Base", "path.Join", "path.Base",
}  # fmt: skip
_INT_FUNCS = {"len", "cap", "copy", "strings.Index", "strings.Count", "strings.LastIndex", "bytes.Index"}
# Nodes that open a scope: a name declared inside one is visible only within its span.
_SCOPES = {
    "source_file", "function_declaration", "method_declaration", "func_literal", "block", "for_statement",
    "if_statement", "expression_switch_statement", "type_switch_statement", "expression_case", "type_case",
    "default_case", "communication_case",
}  # fmt: skip
# Parameter lists that belong to a type, not to a function body: their names are in no scope.
_SIGNATURES = {"function_type", "method_elem", "method_spec"}
_BINDERS = {
    "parameter_declaration", "variadic_parameter_declaration", "var_spec", "const_spec",
    "short_var_declaration", "range_clause", "receive_statement", "type_switch_statement",
}  # fmt: skip


class Binding(NamedTuple):
    """One declaration of a name: the declaring node, its type as written, and its initial value."""

    node: Node
    type: str | None
    value: Node | None


def declared(src: SourceFile, name: str, at: Node) -> Binding | None:
    """The declaration of `name` in scope at `at`, the innermost one, or None when this file has none.

    Local names are visible from the end of their declaration; package-level ones everywhere.
    """
    best: Binding | None = None
    best_key = (-1, -1)
    for node in _binders(src).get(name, ()):
        # Scope first, the binding (which may type a range and so recurse) only for a better candidate.
        anchor = node.child_by_field_name("alias") if node.type == "type_switch_statement" else node
        scope = _scope_of(anchor) if anchor is not None else None
        if scope is None or not scope.start_byte <= at.start_byte < scope.end_byte:
            continue
        if anchor is None or (scope.type != "source_file" and anchor.end_byte > at.start_byte):
            continue
        # Scopes that contain `at` are nested, so the innermost starts last.
        key = (scope.start_byte, anchor.start_byte)
        if key <= best_key:
            continue
        found = _binds(src, node, name)
        if found is not None:
            best, best_key = found, key
    return best


@lru_cache(maxsize=64)
def _binders(src: SourceFile) -> dict[str, tuple[Node, ...]]:
    """Every node of a file that may declare a name, by that name: one walk per file, not per question."""
    index: dict[str, list[Node]] = {}
    for node in walk(src.root):
        if node.type not in _BINDERS:
            continue
        if node.type in ("short_var_declaration", "range_clause", "receive_statement"):
            left = node.child_by_field_name("left")
            names = left.named_children if left is not None else []
        elif node.type == "type_switch_statement":
            alias = node.child_by_field_name("alias")
            names = alias.named_children if alias is not None else []
        else:
            names = node.children_by_field_name("name")
        for name in {src.text(n) for n in names}:
            index.setdefault(name, []).append(node)
    return {name: tuple(nodes) for name, nodes in index.items()}


def declared_type(src: SourceFile, expr: Node) -> str | None:
    """The type an identifier's declaration writes (`MyInt`, `error`, `[]byte`), or None."""
    if expr.type != "identifier":
        return None
    found = declared(src, src.text(expr), expr)
    return found.type if found is not None else None


def _scope_of(decl: Node) -> Node | None:
    node = decl.parent
    while node is not None and node.type not in _SCOPES:
        if node.type in _SIGNATURES:
            return None
        node = node.parent
    return node


def _binds(src: SourceFile, node: Node, name: str) -> Binding | None:
    """The binding of `name` that `node` declares, if it declares one (with an unknown type if need be)."""
    if node.type in ("parameter_declaration", "variadic_parameter_declaration", "var_spec", "const_spec"):
        names = [src.text(n) for n in node.children_by_field_name("name")]
        if name not in names:
            return None
        typ = node.child_by_field_name("type")
        if node.type == "variadic_parameter_declaration":
            return Binding(node, None, None)
        value = node.child_by_field_name("value")
        values = value.named_children if value is not None and value.type == "expression_list" else [value]
        single = len(values) == len(names)
        return Binding(node, src.text(typ) if typ else None, values[names.index(name)] if single else None)
    if node.type in ("short_var_declaration", "range_clause", "receive_statement"):
        left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
        names = [src.text(n) for n in left.named_children] if left is not None else []
        if name not in names or not any(c.type == ":=" for c in node.children):
            return None
        index = names.index(name)
        if node.type == "range_clause":
            return Binding(node, _range_types(src, right)[index] if right is not None else None, None)
        values = right.named_children if right is not None and right.type == "expression_list" else []
        return Binding(node, None, values[index] if len(values) == len(names) else None)
    if node.type == "type_switch_statement":
        alias = node.child_by_field_name("alias")
        if alias is not None and name in (src.text(n) for n in alias.named_children):
            return Binding(alias, None, None)
    return None


def _range_types(src: SourceFile, over: Node) -> tuple[str | None, str | None]:
    """The types of the key and value a `range` over `over` declares, where the tree says them."""
    if over.type == "int_literal":
        return "int", None
    kind = basic_type(src, over)
    if kind == "string":
        return "int", "int32"
    if kind in _INTEGERS:
        return kind, None
    typ = declared(src, src.text(over), over) if over.type == "identifier" else None
    if typ is not None and typ.type is not None and typ.type.startswith("["):
        return "int", typ.type.split("]", 1)[1]
    return None, None


def basic_type(src: SourceFile, expr: Node) -> str | None:
    """The predeclared basic type of an expression, or None when the tree does not say."""
    if expr.type in ("interpreted_string_literal", "raw_string_literal"):
        return "string"
    if expr.type == "int_literal":
        return "int"
    if expr.type in ("true", "false"):
        return "bool"
    if expr.type == "parenthesized_expression" and expr.named_children:
        return basic_type(src, expr.named_children[0])
    if expr.type == "binary_expression":
        op = expr.child_by_field_name("operator")
        left, right = expr.child_by_field_name("left"), expr.child_by_field_name("right")
        if op is not None and src.text(op) in ("==", "!=", "<", ">", "<=", ">=", "&&", "||"):
            return "bool"
        lt = basic_type(src, left) if left is not None else None
        rt = basic_type(src, right) if right is not None else None
        return lt if lt == rt else None
    if expr.type == "call_expression":
        fn = expr.child_by_field_name("function")
        name = src.text(fn) if fn is not None else ""
        if name in BASIC:
            return {"byte": "uint8", "rune": "int32"}.get(name, name)
        if name in _STRING_FUNCS:
            return "string"
        if name in _INT_FUNCS:
            return "int"
        return None
    if expr.type != "identifier":
        return None
    found = declared(src, src.text(expr), expr)
    if found is None:
        return None
    if found.type is not None:
        return found.type if found.type in BASIC else None
    # An untyped constant has no type of its own until it is used; leave it to the compiler.
    if found.value is not None and found.node.type != "const_spec":
        return basic_type(src, found.value)
    return None
