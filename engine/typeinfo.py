"""Types read off the syntax tree: what a declaration in scope says an expression's type is.

There is no type checker here; a wrong guess fails to compile and the verifier rejects it, so
these rules only need to be right often and never to silently change behaviour.
"""

from __future__ import annotations

from goescape.engine.parsing import Node, SourceFile, walk

BASIC = {
    "string", "bool", "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64",
    "uintptr", "byte", "rune", "float32", "float64",
}  # fmt: skip
_STRING_FUNCS = {
    "strconv.Itoa", "strconv.Quote", "strconv.FormatInt", "strconv.FormatUint", "strconv.FormatBool",
    "strings.ToLower", "strings.ToUpper", "strings.TrimSpace", "strings.Join", "strings.Repeat",
    "strings.ReplaceAll", "strings.Replace", "strings.Trim", "strings.TrimPrefix", "strings.TrimSuffix",
    "strings.Title", "filepath.Join", "filepath.Base", "path.Join", "path.Base",
}  # fmt: skip
_INT_FUNCS = {"len", "cap", "copy", "strings.Index", "strings.Count", "strings.LastIndex", "bytes.Index"}


def _scope_of(decl: Node) -> Node | None:
    """The node whose span a declaration is visible in."""
    node = decl.parent
    while node is not None and node.type not in ("block", "for_statement", "function_declaration",
                                                  "method_declaration", "func_literal", "source_file",
                                                  "if_statement", "expression_case", "type_case",
                                                  "communication_case", "default_case"):  # fmt: skip
        node = node.parent
    return node


def _declared(src: SourceFile, use: Node) -> tuple[Node, Node | None, Node | None] | None:
    """The nearest declaration in scope of the identifier `use`: (declaring node, type, value)."""
    name = src.text(use)
    best: tuple[Node, Node | None, Node | None] | None = None
    root = use
    while root.parent is not None:
        root = root.parent
    for node in walk(root):
        if node.start_byte >= use.start_byte:
            continue
        found = _binds(src, node, name)
        if found is None:
            continue
        scope = _scope_of(node)
        if scope is not None and scope.start_byte <= use.start_byte < scope.end_byte:
            if best is None or node.start_byte > best[0].start_byte:
                best = found
    return best


def _binds(src: SourceFile, node: Node, name: str) -> tuple[Node, Node | None, Node | None] | None:
    if node.type in ("parameter_declaration", "var_spec", "const_spec"):
        names = node.children_by_field_name("name")
        if any(src.text(n) == name for n in names):
            value = node.child_by_field_name("value")
            index = [src.text(n) for n in names].index(name)
            values = value.named_children if value is not None and value.type == "expression_list" else [value]
            return node, node.child_by_field_name("type"), values[index] if index < len(values) else None
    if node.type == "short_var_declaration":
        left = node.child_by_field_name("left")
        right = node.child_by_field_name("right")
        if left is not None and right is not None:
            names = [src.text(n) for n in left.named_children]
            if name in names and len(right.named_children) == len(names):
                return node, None, right.named_children[names.index(name)]
    if node.type == "range_clause":
        left = node.child_by_field_name("left")
        if left is not None and left.named_children and src.text(left.named_children[0]) == name:
            over = node.child_by_field_name("right")
            if over is not None and _ranges_with_int_index(src, over):
                return node, None, None
    if node.type == "for_clause":
        init = node.child_by_field_name("initializer")
        if init is not None:
            return _binds(src, init, name)
    return None


def _ranges_with_int_index(src: SourceFile, over: Node) -> bool:
    if over.type == "int_literal":
        return True
    if over.type == "identifier":
        kind = basic_type(src, over)
        if kind in ("int", "string"):
            return True
        decl = _declared(src, over)
        return decl is not None and decl[1] is not None and decl[1].type in ("slice_type", "array_type")
    return False


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
    if src.text(expr) in ("true", "false"):
        return "bool"
    decl = _declared(src, expr)
    if decl is None:
        return None
    node, typ, value = decl
    if node.type == "range_clause":
        return "int"
    if typ is not None:
        text = src.text(typ)
        return text if text in BASIC else None
    if value is not None and value.type != "identifier" and node.type != "const_spec":
        return basic_type(src, value)
    return None
