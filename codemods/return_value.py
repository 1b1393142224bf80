"""Return a small struct by value instead of a pointer to one the function allocates.

`return &u` and `return &T{...}` hand out a pointer that outlives the function's frame, so the
compiler puts the struct on the heap (`moved to heap: u`, `&T{...} escapes to heap`). Returned
by value, it is copied into the caller's frame instead. A caller that names the result keeps
the struct in that variable, which is now the storage the old pointer pointed at: its field
accesses and method calls stay, and each bare use becomes `&x`, so aliasing is unchanged (if
that makes `x` escape in the caller, the verifier rejects the rewrite as adding an escape).
Left alone: a struct over --size-limit (its size as go/types gives it for the target GOARCH),
one holding a lock, a `return nil` path, a method, a function used as a value or from another
package, and a result used as a pointer without a name.

Before:  func newUser() *User { return &User{} }  ...  u := newUser(); save(u)
After:   func newUser() User { return User{} }  ...  u := newUser(); save(&u)
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from goescape.engine.codemod import Edit, Match, Pass, Pattern
from goescape.engine.facts import Kind
from goescape.engine.oracle import GoObject, GoType, Use
from goescape.engine.parsing import Node, SourceFile, enclosing

NAME = "return-value"
PATTERNS = (Pattern("value"),)  # return &u → return u; callers keep the struct in their variable and pass &x on
QUERY = """
[(function_declaration result: (pointer_type) @result)
 (method_declaration result: (pointer_type) @result)] @func
"""

# Types that must not be copied besides those whose pointer has Lock and Unlock (go vet's copylocks).
_LOCK = re.compile(r"^(\[\d+\])*(sync\.(Mutex|RWMutex|WaitGroup|Once|Cond|Map|Pool)|atomic\.\w+|noCopy)$")
_DISCARDED = ("expression_statement", "go_statement", "defer_statement")
_ADDRESSABLE = ("identifier", "composite_literal")
_EXPORTED = "exported: changing its result type breaks importers; --allow-api-change rewrites it anyway"


def propose(match: Match, pass_: Pass) -> None:
    src, fn, result = match.src, match.one("func"), match.one("result")
    body = fn.child_by_field_name("body") if fn is not None else None
    name_node = fn.child_by_field_name("name") if fn is not None else None
    if fn is None or result is None or body is None or name_node is None:
        return
    returned = [_returned(r) for r in _own(body) if r.type == "return_statement"]
    addresses = [e for e in returned if e is not None and _op(e) == "&" and e.named_children[0].type in _ADDRESSABLE]
    locals_ = [e.named_children[0] for e in addresses if e.named_children[0].type == "identifier"]
    literals = {e.start_byte for e in addresses if e.named_children[0].type == "composite_literal"}
    targets = [
        f
        for f in pass_.facts_within(src, fn)
        if (f.kind is Kind.MOVED and f.expr in {src.text(n) for n in locals_})
        or (f.kind is Kind.ESCAPES and f.offset in literals)
    ]
    if not targets:
        return
    name, pointee, fn_obj = src.text(name_node), result.named_children[0], pass_.object_of(src, name_node)
    typ, returns = pass_.type_of(src, pointee), {e.id for e in addresses}
    pointer_only = (typ.pointer_methods - typ.methods) if typ is not None else frozenset()
    edits = [Edit.replace(src, result, src.text(pointee))]
    edits += [Edit(src.path, e.start_byte, e.named_children[0].start_byte, b"") for e in addresses]
    # Every precondition --allow-api-change cannot lift comes first: the reason given is what really blocks it.
    why = "a method: its signature may have to match an interface" if fn.type == "method_declaration" else ""
    why = why or next((_return_problem(src, e) for e in returned if e is None or e.id not in returns), "")
    why = why or _type_problem(pass_, src, fn, typ)
    why = why or next((w for n in locals_ if (w := _local_problem(pass_, src, fn, n, returns, pointer_only))), "")
    why = why or (_callers(pass_, fn_obj, pointer_only, edits) if fn_obj else f"go/types has no object for {name}")
    why = why or _hidden_use(pass_, name) or ("" if pass_.exported_ok(name) else _EXPORTED)
    if why:
        return pass_.skip(src, fn, why, targets)
    pass_.report(
        src,
        fn,
        edits,
        targets=targets,
        rationale=f"returning {src.text(pointee)} by value lets it live in the caller's frame instead of the heap",
        pattern="value",
        api_change=name[:1].isupper(),
    )


def _return_problem(src: SourceFile, expr: Node | None) -> str:
    if expr is not None and src.text(expr) == "nil":
        return "returns nil on some path, and a struct value cannot be nil"
    return f"returns {src.text(expr) if expr is not None else 'nothing'}, not &local or &T{{...}}, on some path"


def _callers(pass_: Pass, fn: GoObject, pointer_only: frozenset[str], edits: list[Edit]) -> str:
    """Add the edits every caller needs to `edits`, or say why one cannot take a value."""
    mine = {s.path: s for s in pass_.files()}
    for use in pass_.uses(fn):
        caller = mine.get(use.path)
        if caller is None:
            return f"called from another package ({use.where()}); only its own package is rewritten"
        found = _caller_edits(pass_, caller, _node(caller, use), pointer_only)
        if isinstance(found, str):
            return found
        edits += found
    return ""


def _type_problem(pass_: Pass, src: SourceFile, at: Node, typ: GoType | None) -> str:
    """Why values of the result's pointee must not be returned by value, or ""."""
    if typ is None or typ.kind != "struct":
        return f"{typ.text} is a {typ.kind} type, not a struct" if typ else "go/types gives the result no type"
    if typ.named and typ.pkg != pass_.package.import_path:
        return f"{typ.text} is declared in {typ.pkg}, whose values may not survive a copy; only this package's are"
    if typ.size is not None and typ.size > (limit := pass_.options.size_limit):
        return f"{typ.text} is {typ.size} bytes, over --size-limit {limit}"
    if lock := _lock(pass_, src, at, typ, frozenset({typ.text})):
        return f"{typ.text} holds a lock ({lock}); a copy would not share it"
    return ""


def _lock(pass_: Pass, src: SourceFile, at: Node, typ: GoType, seen: frozenset[str]) -> str:
    """The lock (or other value go vet forbids copying) a struct holds, following this package's types."""
    if {"Lock", "Unlock"} <= typ.pointer_methods or _LOCK.match(typ.text):
        return typ.text
    for _, text in typ.fields:
        inner = pass_.lookup(src, at, text) if text.isidentifier() and text not in seen else None
        found = text if _LOCK.match(text) else ""
        if not found and inner is not None and inner.kind == "typename" and inner.type is not None:
            found = _lock(pass_, src, at, inner.type, seen | {text})
        if found:
            return found
    return ""


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


def _node(src: SourceFile, use: Use) -> Node:
    return src.root.named_descendant_for_byte_range(use.start, use.end) or src.root


def _where(src: SourceFile, node: Node) -> str:
    return f"{src.path.name}:{src.line_of(node.start_byte)}"


def _uses(pass_: Pass, src: SourceFile, ident: Node) -> tuple[GoObject | None, list[Node]]:
    """The variable an identifier declares or names, and its uses in this file."""
    obj = pass_.object_of(src, ident)
    uses = [_node(src, u) for u in pass_.uses(obj) if u.path == src.path] if obj is not None else []
    return obj, uses


def _role(ident: Node) -> str:
    """What an identifier does where it stands: declare, assign, select, address, deref, compare or value."""
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
    return "compare" if parent.type == "binary_expression" and _op(parent) in ("==", "!=") else "value"


def _local_problem(
    pass_: Pass, src: SourceFile, fn: Node, local: Node, returns: set[int], pointer_only: frozenset[str]
) -> str:
    """Why returning `local` by value could change behaviour: something may still hold its address."""
    obj, uses = _uses(pass_, src, local)
    name = src.text(local)
    if obj is None or obj.kind != "var" or obj.package_level or not fn.start_byte <= obj.offset < fn.end_byte:
        return f"returns the address of {name}, which is not declared in the function"
    for use in uses:
        place = use  # the variable, a field of it or an element of an array in it
        while place.parent is not None and place.parent.type in ("selector_expression", "index_expression"):
            if place.parent.named_children[0].id != place.id:
                break
            place = place.parent
        outer, field = place.parent, place.child_by_field_name("field")
        if enclosing(use, "func_literal") is not None:
            return f"{name} is used in a closure, which may outlive the call ({_where(src, use)})"
        sliced = outer is not None and outer.type == "slice_expression" and outer.named_children[0].id == place.id
        if outer is not None and outer.id not in returns and (_op(outer) == "&" or sliced):
            return f"takes the address of {src.text(place)} before returning {name} ({_where(src, use)})"
        if place.type == "selector_expression" and field is not None and src.text(field) in pointer_only:
            return f"calls pointer method {src.text(field)} on {name}, which may keep its address ({_where(src, use)})"
    return ""


def _caller_edits(pass_: Pass, src: SourceFile, ident: Node, pointer_only: frozenset[str]) -> list[Edit] | str:
    """The edits one use of the function needs, or why its caller cannot take a value."""
    name, call, where = src.text(ident), ident.parent, _where(src, ident)
    if call is None or call.type != "call_expression" or call.named_children[0].id != ident.id:
        return f"{name} is used as a function value ({where})"
    parent, holder = call.parent, call.parent.parent if call.parent is not None else None
    if parent is None or parent.type in _DISCARDED:
        return []
    if parent.type == "selector_expression":
        method = src.text(parent.child_by_field_name("field") or parent)
        if method not in pointer_only:
            return []
        return f"calls pointer method {method} on the result of {name}(...); bind it to a variable ({where})"
    if _op(parent) == "*":
        return [Edit.replace(src, parent, src.text(call))]
    if parent.type == "binary_expression" and _op(parent) in ("==", "!="):
        return f"the result of {name}(...) is compared by identity ({where})"
    if parent.type == "expression_list" and holder is not None and holder.type in ("short_var_declaration", "var_spec"):
        left = holder.child_by_field_name("left") or holder
        names = [n for n in left.named_children if n.type == "identifier"]
        if len(names) == len(parent.named_children):
            var = names[[c.id for c in parent.named_children].index(call.id)]
            return _variable_edits(pass_, src, holder, var, name, where)
    return f"the result of {name}(...) is used as a pointer without a name; bind it to a variable ({where})"


def _variable_edits(pass_: Pass, src: SourceFile, decl: Node, var: Node, fn: str, where: str) -> list[Edit] | str:
    """`x := f()` keeps x, which now holds the struct itself: each bare use of x becomes &x."""
    obj, uses = _uses(pass_, src, var)
    if obj is None or obj.package_level or decl.child_by_field_name("type") is not None:
        return f"the result of {fn}(...) is kept in a package-level or pointer-typed variable ({where})"
    name, edits = src.text(var), []
    for use in uses:
        role, at = _role(use), _where(src, use)
        if role in ("declare", "assign"):
            return f"{role}s {name} again, which would then hold a copy ({at})"
        if role == "address":
            return f"takes the address of {name}, which would then be a pointer to a pointer ({at})"
        if role == "compare":
            return f"compares {name} by identity ({at})"
        if role == "deref" and use.parent is not None:
            edits.append(Edit.replace(src, use.parent, name))
        elif role == "value":
            edits.append(Edit.insert(src, use.start_byte, "&"))
    return edits


def _hidden_use(pass_: Pass, name: str) -> str:
    """A mention of the function go/types does not see: other builds, assembly, linkname."""
    pkg = pass_.package
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
