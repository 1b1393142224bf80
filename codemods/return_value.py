"""Return a small struct by value instead of a pointer to one the function allocates.

`return &u` and `return &T{...}` hand out a pointer that outlives the function's frame, so the
compiler puts the struct on the heap (`moved to heap: u`, `&T{...} escapes to heap`). Returned
by value, it is copied into the caller's frame instead. A caller that names the result keeps
the struct in that variable, which is now the storage the old pointer pointed at: its field
accesses and method calls stay, and each bare use becomes `&x`, so aliasing is unchanged (if
that makes `x` escape in the caller, the verifier rejects the rewrite as adding an escape).
A struct over --size-limit, one holding a lock, a `return nil` path, a function value and a
result used as a pointer without a name are left alone.

Before:  func newUser() *User { return &User{} }  ...  u := newUser(); save(u)
After:   func newUser() User { return User{} }  ...  u := newUser(); save(&u)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from goescape.engine.codemod import Context, Edit, Match, Proposal, Skip
from goescape.engine.parsing import local_name
from goescape.engine.facts import Kind
from goescape.engine.parsing import FUNCTION_TYPES, Node, SourceFile, enclosing, parse_file, walk

NAME = "return-value"
QUERY = """
[(function_declaration result: (pointer_type) @result)
 (method_declaration result: (pointer_type) @result)] @func
"""

_SIZES = {
    "bool": 1, "int8": 1, "uint8": 1, "byte": 1, "int16": 2, "uint16": 2, "int32": 4, "uint32": 4,
    "rune": 4, "float32": 4, "int": 8, "uint": 8, "int64": 8, "uint64": 8, "uintptr": 8, "float64": 8,
    "complex64": 8, "complex128": 16, "string": 16, "any": 16, "error": 16, "time.Duration": 8, "time.Time": 24,
}  # fmt: skip
_WORD = {"pointer_type": 8, "map_type": 8, "channel_type": 8, "function_type": 8, "slice_type": 24,
         "interface_type": 16}  # fmt: skip
_LOCK = re.compile(r"^(sync\.(Mutex|RWMutex|WaitGroup|Once|Cond)|atomic\.\w+|noCopy)$")
_DISCARDED = ("expression_statement", "go_statement", "defer_statement")
_ADDRESSABLE = ("identifier", "composite_literal")


def propose(match: Match, ctx: Context) -> Proposal | Skip | None:
    src, fn, result = match.src, match.one("func"), match.one("result")
    body = fn.child_by_field_name("body") if fn is not None else None
    name_node = fn.child_by_field_name("name") if fn is not None else None
    if fn is None or result is None or body is None or name_node is None:
        return None
    name, line = src.text(name_node), src.line_of(fn.start_byte)
    returned = [_returned(r) for r in _own(body) if r.type == "return_statement"]
    addresses = [e for e in returned if e is not None and _op(e) == "&" and e.named_children[0].type in _ADDRESSABLE]
    locals_ = {src.text(e.named_children[0]) for e in addresses if e.named_children[0].type == "identifier"}
    literals = {e.start_byte for e in addresses if e.named_children[0].type == "composite_literal"}
    targets = tuple(
        f
        for f in ctx.facts_within(src, fn)
        if (f.kind is Kind.MOVED and f.expr in locals_) or (f.kind is Kind.ESCAPES and f.offset in literals)
    )
    if not targets:
        return None

    def skip(reason: str) -> Skip:
        return Skip(NAME, src.path, line, name, reason, targets)

    if fn.type == "method_declaration":
        return skip("a method: its signature may have to match an interface")
    if not ctx.exported_ok(name):
        return skip("exported: changing its result type breaks importers; --allow-api-change rewrites it anyway")
    for expr in returned:
        if expr is None or expr.id not in {e.id for e in addresses}:
            text = src.text(expr) if expr is not None else "nothing"
            return skip("returns nil on some path, and a struct value cannot be nil" if text == "nil"
                        else f"returns {text}, not &local or &T{{...}}, on some path")  # fmt: skip
    pointee = result.named_children[0]
    typ, (types, methods) = src.text(pointee), _declarations(ctx)
    if pointee.type != "type_identifier" or typ not in types or types[typ][1].type != "struct_type":
        return skip(f"{typ} is not a struct type declared in this package")
    size = _size(types, *types[typ], frozenset({typ}))
    if isinstance(size, str):
        return skip(f"{typ} {size}")
    if size > ctx.options.size_limit:
        return skip(f"{typ} is about {size} bytes, over --size-limit {ctx.options.size_limit}")
    every_method = {m for names in methods.values() for m in names}
    for local in sorted(locals_):
        why = _local_problem(src, fn, local, {e.id for e in addresses}, every_method)
        if why:
            return skip(why)
    why = _hidden_use(ctx, name) or (_outside_use(ctx, name) if name[:1].isupper() and not ctx.package.is_main else "")
    if why:
        return skip(why)
    edits = [Edit.replace(src, result, typ)]
    edits += [Edit(src.path, e.start_byte, e.named_children[0].start_byte, b"") for e in addresses]
    for caller in ctx.files():
        for ident in walk(caller.root):
            declaration = caller.path == src.path and ident.start_byte == name_node.start_byte
            if ident.type == "identifier" and caller.text(ident) == name and not declaration:
                found = _caller_edits(caller, ident, methods.get(typ, set()))
                if isinstance(found, str):
                    return skip(found)
                edits += found
    return Proposal(
        codemod=NAME,
        package=ctx.package.import_path,
        path=src.path,
        line=line,
        function=name,
        edits=tuple(edits),
        targets=targets,
        rationale=f"returning {typ} by value lets it live in the caller's frame instead of the heap",
        api_change=name[:1].isupper(),
        pattern="value",
    )


def _own(node: Node) -> Iterator[Node]:
    """The nodes of a function body outside the closures it declares."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(c for c in current.named_children if c.type != "func_literal")


def _returned(ret: Node) -> Node | None:
    values = ret.named_children[0].named_children if ret.named_children else []
    return values[0] if len(values) == 1 else None


def _op(node: Node | None) -> str:
    op = node.child_by_field_name("operator") if node is not None else None
    return op.text.decode() if op is not None and op.text is not None else ""


def _where(src: SourceFile, node: Node) -> str:
    return f"{src.path.name}:{src.line_of(node.start_byte)}"


def _declarations(ctx: Context) -> tuple[dict[str, tuple[SourceFile, Node]], dict[str, set[str]]]:
    """The package's types (name -> file and the type it names) and each type's pointer-receiver methods."""
    types: dict[str, tuple[SourceFile, Node]] = {}
    methods: dict[str, set[str]] = {}
    for src in ctx.files():
        for decl in src.root.named_children:
            for spec in decl.named_children if decl.type == "type_declaration" else []:
                name, typ = spec.child_by_field_name("name"), spec.child_by_field_name("type")
                if name is not None and typ is not None:
                    types[src.text(name)] = (src, typ)
            receiver, name = decl.child_by_field_name("receiver"), decl.child_by_field_name("name")
            if receiver is not None and name is not None and any(n.type == "pointer_type" for n in walk(receiver)):
                rtype = [src.text(n) for n in walk(receiver) if n.type == "type_identifier"]
                methods.setdefault(rtype[0] if rtype else "", set()).add(src.text(name))
    return types, methods


def _size(types: dict[str, tuple[SourceFile, Node]], src: SourceFile, typ: Node, seen: frozenset[str]) -> int | str:
    """Estimated bytes of a type (padding aside), or why it must not be copied or cannot be sized."""
    text = src.text(typ)
    if _LOCK.match(text):
        return f"holds a lock ({text}); a copy would not share it"
    if typ.type in _WORD or text in _SIZES:
        return _WORD.get(typ.type) or _SIZES[text]
    parts: list[tuple[Node | None, int]] = []
    length, element = typ.child_by_field_name("length"), typ.child_by_field_name("element")
    if typ.type == "struct_type":
        fields = [f for block in typ.named_children for f in block.named_children if f.type == "field_declaration"]
        parts += [(f.child_by_field_name("type"), max(1, len(f.children_by_field_name("name")))) for f in fields]
    elif typ.type == "array_type" and length is not None and src.text(length).isdigit():
        parts.append((element, int(src.text(length))))
    elif typ.type == "type_identifier" and text in types and text not in seen:
        return _size(types, *types[text], seen | {text})
    else:
        return f"has a field of type {text}, whose size is not known"
    total = 0
    for part, count in parts:
        size = _size(types, src, part, seen) if part is not None else "has a field the parser cannot read"
        if isinstance(size, str):
            return size
        total += size * count
    return total


def _role(ident: Node) -> str:
    """What an identifier does where it stands: declare, assign, select, address, deref, compare, key or value."""
    node, parent = ident, ident.parent
    if parent is not None and parent.type == "expression_list":
        node, parent = parent, parent.parent
    if parent is None:
        return "value"
    for kinds, field, role in (
        (("short_var_declaration", "range_clause", "receive_statement"), "left", "declare"),
        (("assignment_statement",), "left", "assign"),
        (("var_spec", "parameter_declaration", "const_spec"), "name", "declare"),
        (("type_switch_statement",), "alias", "declare"),
    ):
        if parent.type in kinds and any(c.id == node.id for c in parent.children_by_field_name(field)):
            return role
    if node is not ident:
        return "value"
    if parent.type == "selector_expression":
        return "select"
    if parent.type == "unary_expression":
        return {"&": "address", "*": "deref"}.get(_op(parent), "value")
    if parent.type == "binary_expression" and _op(parent) in ("==", "!="):
        return "compare"
    key = parent.parent.child_by_field_name("key") if parent.parent is not None else None
    return "key" if parent.type == "literal_element" and key is not None and key.id == parent.id else "value"


def _local_problem(src: SourceFile, fn: Node, local: str, returns: set[int], pointer_methods: set[str]) -> str:
    """Why returning `local` by value could change behaviour: something may still hold its address."""
    uses = [n for n in walk(fn) if n.type == "identifier" and src.text(n) == local]
    if not any(_role(n) == "declare" for n in uses):
        return f"returns the address of {local}, which is not declared in the function"
    for use in uses:
        place = use  # the variable, a field of it or an element of an array in it
        while place.parent is not None and place.parent.type in ("selector_expression", "index_expression"):
            if place.parent.named_children[0].id != place.id:
                break
            place = place.parent
        outer, field = place.parent, place.child_by_field_name("field")
        if enclosing(use, "func_literal") is not None:
            return f"{local} is used in a closure, which may outlive the call ({_where(src, use)})"
        sliced = outer is not None and outer.type == "slice_expression" and outer.named_children[0].id == place.id
        if outer is not None and outer.id not in returns and (_op(outer) == "&" or sliced):
            return f"takes the address of {src.text(place)} before returning {local} ({_where(src, use)})"
        if place.type == "selector_expression" and field is not None and src.text(field) in pointer_methods:
            return f"calls pointer method {src.text(field)} on {local}, which may keep its address ({_where(src, use)})"
    return ""


def _caller_edits(src: SourceFile, ident: Node, pointer_methods: set[str]) -> list[Edit] | str:
    """The edits one use of the function needs, or why its caller cannot take a value."""
    name, call, where = src.text(ident), ident.parent, _where(src, ident)
    if _role(ident) == "key":
        return []
    if call is None or call.type != "call_expression" or call.named_children[0].id != ident.id:
        return f"{name} is used as a function value ({where})"
    parent, holder = call.parent, call.parent.parent if call.parent is not None else None
    if parent is None or parent.type in _DISCARDED:
        return []
    if parent.type == "selector_expression":
        method = src.text(parent.child_by_field_name("field") or parent)
        if method not in pointer_methods:
            return []
        return f"calls pointer method {method} on the result of {name}(...); bind it to a variable ({where})"
    if _op(parent) == "*":
        return [Edit.replace(src, parent, src.text(call))]
    if parent.type == "binary_expression" and _op(parent) in ("==", "!="):
        return f"the result of {name}(...) is compared by identity ({where})"
    if parent.type == "expression_list" and holder is not None and holder.type in ("short_var_declaration", "var_spec"):
        left = holder.child_by_field_name("left") or holder
        names = [n for n in left.named_children if n.type == "identifier"]
        typed = holder.child_by_field_name("type") is not None
        if holder.type == "var_spec" and (typed or enclosing(holder, *FUNCTION_TYPES) is None):
            return f"the result of {name}(...) is kept in a package-level or pointer-typed variable ({where})"
        if len(names) == len(parent.named_children):
            return _variable_edits(src, holder, names[[c.id for c in parent.named_children].index(call.id)])
    return f"the result of {name}(...) is used as a pointer without a name; bind it to a variable ({where})"


def _variable_edits(src: SourceFile, decl: Node, var: Node) -> list[Edit] | str:
    """`x := f()` keeps x, which now holds the struct itself: each bare use of x becomes &x."""
    stmt = enclosing(decl, "var_declaration") if decl.type == "var_spec" else decl
    scope = stmt.parent if stmt is not None else None
    if scope is not None and scope.type == "for_clause":
        scope = scope.parent
    name, edits = src.text(var), []
    for use in walk(scope) if scope is not None else []:
        if use.type != "identifier" or src.text(use) != name or use.start_byte < decl.end_byte:
            continue
        role, where = _role(use), _where(src, use)
        if role in ("declare", "assign"):
            return f"{role}s {name} again, which would then hold a copy ({where})"
        if role == "address":
            return f"takes the address of {name}, which would then be a pointer to a pointer ({where})"
        if role == "compare":
            return f"compares {name} by identity ({where})"
        if role == "deref" and use.parent is not None:
            edits.append(Edit.replace(src, use.parent, name))
        elif role == "value":
            edits.append(Edit.insert(src, use.start_byte, "&"))
    return edits


def _hidden_use(ctx: Context, name: str) -> str:
    """A mention of the function the syntax tree does not show: other builds, assembly, linkname."""
    pkg = ctx.package
    seen = set(pkg.go_files) | set(pkg.test_files)
    word = re.compile(rb"\b" + re.escape(name.encode()) + rb"\b")
    directive = re.compile(rb"//(go:linkname|export)\b[^\n]*\b" + re.escape(name.encode()) + rb"\b")
    for path in sorted([*pkg.dir.glob("*.go"), *pkg.dir.glob("*.s")]):
        data = path.read_bytes()
        if path not in seen and word.search(data):
            return f"{path.name} names {name} and is not part of this build (build constraints or assembly)"
        if path in seen and directive.search(data):
            return f"{path.name} names {name} in a //go:linkname or //export directive"
    return ""


def _outside_use(ctx: Context, name: str) -> str:
    """A call from another package of the module, which this codemod does not rewrite."""
    pkg = ctx.package
    root = pkg.module_dir or Path(str(pkg.dir).removesuffix(pkg.import_path))
    quoted = f'"{pkg.import_path}"'.encode()
    # Nested modules and testdata are searched too: a false hit only skips, a miss would break a build.
    for path in sorted(root.rglob("*.go")):
        if quoted not in path.read_bytes():
            continue
        src = parse_file(path)
        alias = local_name(src, pkg.import_path)
        for node in walk(src.root):
            operand, field = node.child_by_field_name("operand"), node.child_by_field_name("field")
            hit = node.type == "identifier" and alias == "." and src.text(node) == name
            if hit or (node.type == "selector_expression" and operand is not None and field is not None
                       and src.text(operand) == alias and src.text(field) == name):  # fmt: skip
                return f"called from another package ({path.relative_to(root)}); only its own package is rewritten"
    return ""
