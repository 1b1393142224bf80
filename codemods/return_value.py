"""Return a small struct by value instead of a pointer to one the function allocates.

`return &u` and `return &T{...}` hand out a pointer that outlives the function's frame, so the
compiler puts the struct on the heap (`moved to heap: u`, `&T{...} escapes to heap`). Returned
by value, it is copied into the caller's frame instead. A caller that names the result keeps
the struct in that variable, which is now the storage the old pointer pointed at: its field
accesses and method calls stay, and each bare use becomes `&x`, so aliasing is unchanged (if
that makes `x` escape in the caller, the verifier rejects the rewrite as adding an escape).
A method is rewritten like a function unless an interface of its package has a method of that
name: an unexported method can be required by no other package's interface.
Left alone: a struct over --size-limit (its size as go/types gives it for the target GOARCH),
one holding a lock or a sync or sync/atomic value at any depth, a local that has a pointer method
called on it or on a field of it (`p.b.WriteString` takes `&p.b`: a strings.Builder copied after
that panics), a `return nil` path, a function or method used as a value or from another package,
a result used as a pointer without a name or returned by its caller, and a call the compiler
inlined where the allocation still escapes (the caller keeps the pointer: its variable would
move to the heap instead). Exported functions and methods need --allow-api-change, checked last.

Before:  func newUser() *User { return &User{} }  ...  u := newUser(); save(u)
After:   func newUser() User { return User{} }  ...  u := newUser(); save(&u)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from goescape.engine.codemod import Match, Pattern
from goescape.engine.edits import Edit
from goescape.engine.facts import Kind
from goescape.engine.gotypes import GoObject, GoType, Use
from goescape.engine.parsing import Node, SourceFile, enclosing, walk
from goescape.engine.passes import Pass

NAME = "return-value"
PATTERNS = (Pattern("value"),)  # return &u → return u; callers keep the struct in their variable and pass &x on
QUERY = """
[(function_declaration result: (pointer_type) @result)
 (method_declaration result: (pointer_type) @result)] @func
"""

# Packages whose values must not be copied besides those whose pointer has Lock and Unlock (go vet's copylocks).
_NO_COPY = ("sync", "sync/atomic")
_NO_COPY_PREFIXES = tuple(f"{p}." for p in _NO_COPY)
_DISCARDED = ("expression_statement", "go_statement", "defer_statement")
_ADDRESSABLE = ("identifier", "composite_literal")
_WORD = re.compile(rb"\w+")
_DIRECTIVE = re.compile(rb"//(?:go:linkname|export)\b([^\n]*)")
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
    why = _interface_problem(pass_, name) if fn.type == "method_declaration" else ""
    why = why or next((_return_problem(src, e) for e in returned if e is None or e.id not in returns), "")
    why = why or _type_problem(pass_, src, pointee, typ)
    why = why or next((w for n in locals_ if (w := _local_problem(pass_, src, fn, n, returns))), "")
    compiled = pass_.function_name(src, fn)  # the compiler's name, as in "inlining call to (*T).m"
    why = why or ("" if fn_obj else f"go/types has no object for {name}")
    why = why or (_callers(pass_, fn_obj, compiled, pointer_only, edits) if fn_obj else "")
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


def _interface_problem(pass_: Pass, name: str) -> str:
    """An interface of the package that has a method called `name`, whose signature it must keep, or "".

    An unexported method can only be required by an interface of its own package (its name is
    qualified by the package), and an embedded interface is read where it is declared; so every
    interface type of the package's folder is read, named or literal, tests and other platforms'
    files included. An exported method is gated behind --allow-api-change: importers' interfaces
    are the change to the API that the flag accepts, and verification builds the ones in the patterns.
    """
    found = pass_.once(_interface_methods).get(name)
    if found is None:
        return ""
    src, elem = found
    spec = elem.parent.parent if elem.parent is not None else None
    named = spec.child_by_field_name("name") if spec is not None and spec.type == "type_spec" else None
    what = f"interface {src.text(named)}" if named is not None else "an interface literal"
    return f"{what} has a method {name} ({_where(src, elem)}), whose signature the method must keep"


def _interface_methods(pass_: Pass) -> dict[str, tuple[SourceFile, Node]]:
    """Each method name an interface of the package's folder declares, and its first declaration
    (files in name order): read once per package, not once per method."""
    found: dict[str, tuple[SourceFile, Node]] = {}
    for path in sorted(pass_.package.dir.glob("*.go")):
        if b"interface" not in path.read_bytes():
            continue
        src = pass_.source(path)
        for elem in walk(src.root):
            method = elem.child_by_field_name("name") if elem.type == "method_elem" else None
            if method is not None:
                found.setdefault(src.text(method), (src, elem))
    return found


def _callers(pass_: Pass, fn: GoObject, compiled: str, pointer_only: frozenset[str], edits: list[Edit]) -> str:
    """Add the edits every caller needs to `edits`, or say why one cannot take a value."""
    mine = pass_.once(_own_files)
    for use in pass_.uses(fn):
        caller = mine.get(use.path)
        if caller is None:
            return f"called from another package ({use.where()}); only its own package is rewritten"
        found = _caller_edits(pass_, caller, _node(caller, use), compiled, pointer_only)
        if isinstance(found, str):
            return found
        edits += found
    return ""


def _own_files(pass_: Pass) -> dict[Path, SourceFile]:
    return {s.path: s for s in pass_.files()}


def _type_problem(pass_: Pass, src: SourceFile, pointee: Node, typ: GoType | None) -> str:
    """Why values of the result's pointee must not be returned by value, or ""."""
    if typ is None or typ.kind != "struct":
        return f"{typ.text} is a {typ.kind} type, not a struct" if typ else "go/types gives the result no type"
    if typ.named and typ.pkg != pass_.package.import_path:
        return f"{typ.text} is declared in {typ.pkg}, whose values may not survive a copy; only this package's are"
    if typ.size is not None and typ.size > (limit := pass_.options.size_limit):
        return f"{typ.text} is {typ.size} bytes, over --size-limit {limit}"
    if lock := _no_copy(pass_, src, pointee):
        return f"{typ.text} holds a lock ({lock}); a copy would not share it"
    return ""


def _no_copy(pass_: Pass, src: SourceFile, node: Node) -> str:
    """What the type written at `node` holds by value that go vet forbids copying, or "".

    A lock (Lock and Unlock on its pointer only, as copylocks asks) or any sync or sync/atomic
    value, found by go/types: through this module's declarations field by field, and through the
    field types go/types names (with their package paths) for a type declared anywhere else.
    """
    typ = pass_.type_of(src, node)
    if typ is None or typ.kind not in ("struct", "array"):
        return ""
    if (typ.named and typ.pkg in _NO_COPY) or {"Lock", "Unlock"} <= typ.pointer_methods - typ.methods:
        return typ.text
    held = next((t for _, t in typ.fields if t.lstrip("[]0123456789").startswith(_NO_COPY_PREFIXES)), "")
    if held or node.type == "array_type":
        return held or _no_copy(pass_, src, node.child_by_field_name("element") or node)
    if node.type != "struct_type":
        declared = _declaration(pass_, src, node)
        return _no_copy(pass_, *declared) if declared is not None else ""
    for field in (f for c in node.named_children for f in c.named_children if f.type == "field_declaration"):
        inner = field.child_by_field_name("type")
        pointer = any(c.type == "*" for c in field.children)  # an embedded *T shares, not copies
        if inner is not None and not pointer and (found := _no_copy(pass_, src, inner)):
            return found
    return ""


def _declaration(pass_: Pass, src: SourceFile, node: Node) -> tuple[SourceFile, Node] | None:
    """Where the named type written at `node` is defined in this module: its file and type expression."""
    name: Node | None = node.child_by_field_name("type") if node.type == "generic_type" else node
    name = name.child_by_field_name("name") if name is not None and name.type == "qualified_type" else name
    obj = pass_.object_of(src, name) if name is not None and name.type == "type_identifier" else None
    module = pass_.package.module_dir or pass_.package.dir  # the oracle types the module's own files only
    if obj is None or obj.kind != "typename" or not obj.path.is_relative_to(module) or not obj.path.is_file():
        return None
    there = pass_.source(obj.path)
    # By name and line: export data gives another package's objects no byte offset.
    for spec in walk(there.root):
        name = spec.child_by_field_name("name") if spec.type in ("type_spec", "type_alias") else None
        if name is None or there.text(name) != obj.name or there.line_of(spec.start_byte) != obj.line:
            continue
        typ = spec.child_by_field_name("type")
        return (there, typ) if typ is not None and pass_.type_of(there, typ) is not None else None
    return None


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


def _local_problem(pass_: Pass, src: SourceFile, fn: Node, local: Node, returns: set[int]) -> str:
    """Why returning `local` by value could change behaviour: something may still hold its address."""
    obj, uses = _uses(pass_, src, local)
    name = src.text(local)
    if obj is None or obj.kind != "var" or obj.package_level or not fn.start_byte <= obj.offset < fn.end_byte:
        return f"returns the address of {name}, which is not declared in the function"
    for use in uses:
        if enclosing(use, "func_literal") is not None:
            return f"{name} is used in a closure, which may outlive the call ({_where(src, use)})"
        place = use  # the variable, a field of it or an element of an array in it
        while place.parent is not None and place.parent.type in ("selector_expression", "index_expression"):
            if place.parent.named_children[0].id != place.id:
                break
            # x.M() with M on *X only is (&x).M(): a method of a field (p.b.WriteString) takes &p.b.
            field = place.parent.child_by_field_name("field")
            typ = pass_.type_of(src, place) if field is not None else None
            if field is not None and typ is not None and src.text(field) in typ.pointer_methods - typ.methods:
                method = f"{src.text(place)}.{src.text(field)}"
                return f"calls pointer method {method}, which may keep the address of {name} ({_where(src, use)})"
            place = place.parent
        outer = place.parent
        sliced = outer is not None and outer.type == "slice_expression" and outer.named_children[0].id == place.id
        if outer is not None and outer.id not in returns and (_op(outer) == "&" or sliced):
            return f"takes the address of {src.text(place)} before returning {name} ({_where(src, use)})"
    return ""


def _caller_edits(
    pass_: Pass, src: SourceFile, ident: Node, compiled: str, pointer_only: frozenset[str]
) -> list[Edit] | str:
    """The edits one use of the function needs, or why its caller cannot take a value.

    Where the compiler inlined the call (`compiled` is its name for the function), it reports the
    allocation at the call's parenthesis: if it still escapes there, the caller keeps the pointer,
    and returned by value the caller's own variable would move to the heap instead.
    """
    name, callee, where = src.text(ident), ident, _where(src, ident)
    if ident.type == "field_identifier" and ident.parent is not None:  # x.m(...) or (*T).m(x, ...)
        callee = ident.parent
    call = callee.parent
    if call is None or call.type != "call_expression" or call.named_children[0].id != callee.id:
        return f"{name} is used as a {'method' if callee is not ident else 'function'} value ({where})"
    args = call.child_by_field_name("arguments") or call
    for kept in pass_.facts_within(src, args):
        if kept.kind.allocates and kept.offset == args.start_byte and compiled in kept.inlined:
            return (
                f"inlined into {kept.function}, {kept.expr} still escapes there ({where}): the caller keeps"
                " the pointer, so returned by value its variable would move to the heap instead"
            )
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
        listed = use.parent if use.parent is not None and use.parent.type == "expression_list" else None
        if role == "value" and listed is not None and listed.parent and listed.parent.type == "return_statement":
            return f"returns {name}, which as &{name} would move to the heap instead ({at})"
        if role == "deref" and use.parent is not None:
            edits.append(Edit.replace(src, use.parent, name))
        elif role == "value":
            edits.append(Edit.insert(src, use.start_byte, "&"))
    return edits


def _hidden_use(pass_: Pass, name: str) -> str:
    """A mention of the function go/types does not see: other builds, assembly, linkname."""
    if name.isascii():  # one read of the folder answers for every function of the package
        return pass_.once(_hidden_words).get(name, "").replace("\0", name)
    # \w of a bytes pattern is ASCII only: a name with other letters is looked for as itself.
    word = re.compile(rb"\b" + re.escape(name.encode()) + rb"\b")
    return _hidden_words(pass_, word).get(name, "").replace("\0", name)


def _hidden_words(pass_: Pass, word: re.Pattern[bytes] = _WORD) -> dict[str, str]:
    """Each word the package folder mentions out of go/types' sight, with the reason the first such
    file (in name order) gives, NUL standing for the word: files of other builds and assembly
    mention it anywhere, the build's own files in a //go:linkname or //export directive."""
    pkg = pass_.package
    seen = set(pkg.go_files) | set(pkg.test_files)
    found: dict[str, str] = {}
    for path in sorted([*pkg.dir.glob("*.go"), *pkg.dir.glob("*.s")]):
        data = path.read_bytes()
        if path not in seen:
            why = f"{path.name} names \0 and is not part of this build (build constraints or assembly)"
            words = set(word.findall(data))
        else:
            why = f"{path.name} names \0 in a //go:linkname or //export directive"
            words = {w for m in _DIRECTIVE.finditer(data) for w in word.findall(m.group(1))}
        for w in words:
            found.setdefault(w.decode("utf-8", "replace"), why)
    return found
