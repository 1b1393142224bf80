"""Split a constructor too big to inline into a small one that allocates and an initializer it calls.

`func NewT(...) *T { t := &T{...}; ...; return t }` costs the inliner more than its budget of 80,
so every caller gets its T from NewT's own frame, on the heap (`&T{...} escapes to heap`). Left
with only `t := new(T); t.init(...); return t`, NewT is cheap enough to inline, and a caller that
keeps the result to itself then keeps the T on its own stack; a caller that lets it escape
allocates it as before, and the API does not change. The initializer, an unexported method named
so that it clashes with nothing, gets the rest of the body unchanged with `&T{...}` turned into
`*t = T{...}`; it is marked //go:noinline, since inlined back into NewT it would take NewT over the
budget again. The allocation stays in NewT (which returns it) and the callers that gain are often
tests or other packages, so only fewer allocations in the code's own tests and benchmarks prove it.
Left alone: a constructor the compiler already inlines, one whose T the compiler sees escape other
than through its result (stored in a global, captured by a goroutine), more than one return,
defer, a named result, (*T, error), generics, and a T declared in another package.

Before:  func NewT(a int) *T { t := &T{a: a}; t.setup(); return t }
After:   func NewT(a int) *T { t := new(T); t.init(a); return t }; func (t *T) init(a int) { *t = T{a: a}; t.setup() }
"""

from __future__ import annotations

import re

from goescape.engine.codemod import Match, Pattern
from goescape.engine.edits import Edit
from goescape.engine.facts import EscapeFact, Kind
from goescape.engine.parsing import Node, SourceFile, walk
from goescape.engine.passes import Pass

NAME = "inline-constructor"
# NewT's body moves into a method that runs it on the same T, which new(T) hands over zeroed as
# &T{...} would have been before its fields were set: the same statements on the same memory.
PATTERNS = (Pattern("split"),)
_ASSIGNMENTS = ("assignment_statement", "range_clause", "short_var_declaration")
QUERY = "(function_declaration name: (identifier) @name result: (_) @result body: (block) @body) @func"


def propose(match: Match, pass_: Pass) -> None:
    src, fn, result, body = match.src, match.one("func"), match.one("result"), match.one("body")
    parameters = fn.child_by_field_name("parameters") if fn is not None else None
    stmts = _statements(body)
    if fn is None or result is None or body is None or parameters is None or not stmts:
        return
    # The allocation the function returns, or failing that its first of a type it returns: what a skip names.
    results = [result] if result.type != "parameter_list" else [p.named_children[-1] for p in result.named_children]
    returns = {src.text(r.named_children[0]) for r in results if r.type == "pointer_type"}
    found = [(s, v, _targets(pass_, src, v)) for s in stmts if (v := _allocation(s)) is not None]
    found = [f for f in found if f[2] and _allocated(src, f[1]) in returns]
    returned = src.text(stmts[-1]).removeprefix("return").strip() if stmts[-1].type == "return_statement" else ""
    best = next((f for f in found if src.text(f[0].named_children[0]) == returned), found[0] if found else None)
    if best is None:
        return
    decl, value, targets = best
    name, local, pointee = match.text("name"), src.text(decl.named_children[0]), result.named_children[0]
    typ = pass_.type_of(src, pointee) if result.type == "pointer_type" else None
    params = [p for p in parameters.named_children if p.type != "comment"]
    names = [n for p in params for n in p.children_by_field_name("name")]
    why = _signature_problem(src, fn, result) or _body_problem(src, body, stmts, decl, local)
    why = why or _already_inlined(pass_, name) or _leak(targets[0])
    if not why and (typ is None or not typ.named or typ.pkg != pass_.package.import_path):
        why = f"{src.text(pointee)} is not a type of this package, so it cannot have an initializer"
    if not why and (any(not p.children_by_field_name("name") for p in params) or "_" in map(src.text, names)):
        why = "a parameter has no name (or is _), so it cannot be passed on to the initializer"
    if why or typ is None:
        return pass_.skip(src, fn, why, targets)
    t = src.text(pointee)
    taken = typ.pointer_methods | {f for f, _ in typ.fields} | pass_.once(_interface_methods)
    init = pass_.new_name(["init", f"init{t}", f"build{t}"], also_avoid=taken)
    if init is None:
        return pass_.skip(src, fn, f"init, init{t} and build{t} are all taken on *{t} or in the package", targets)
    args = ", ".join(src.text(n) + "..." * (n.parent is not None and "variadic" in n.parent.type) for n in names)
    literal = value.named_children[0] if value.type == "unary_expression" else None
    head = src.data[stmts[0].start_byte : decl.start_byte].decode()
    tail = src.data[decl.end_byte : stmts[-1].start_byte].decode().rstrip()
    # new(T) and &T{} leave *t zero, as it already is; &T{...} sets its fields where it stood.
    first = f"*{local} = {src.text(literal)}" if literal is not None and _has_fields(literal) else ""
    setup = (head + first + tail if first else head.rstrip() + tail).strip()
    small = f"{local} := new({t})\n\t{local}.{init}({args})\n\treturn {local}"
    doc = f"// {init} sets up *{local} for {name}, which stays small enough to inline without it.\n//\n//go:noinline"
    method = f"\n\n{doc}\nfunc ({local} *{t}) {init}{src.text(parameters)} {{\n\t{setup}\n}}"
    edits = [
        Edit(src.path, stmts[0].start_byte, stmts[-1].end_byte, small.encode()),
        Edit.insert(src, fn.end_byte, method),
    ]
    moved = {f.expr for f in pass_.facts_within(src, body) if f not in targets}
    pass_.report(
        src,
        fn,
        edits,
        targets=targets,
        rationale=f"{name} becomes small enough to inline, so a caller that keeps the {t} local keeps it on its stack",
        pattern="split",
        # The allocation, spelled new(T), is reported again in NewT and in each caller that lets it escape;
        # the setup's own allocations are reported in the initializer instead of NewT.
        allowed_new=[rf"^new\({re.escape(t)}\)$", *sorted(f"^{re.escape(e)}$" for e in moved)],
        proof="runtime",
    )


def _statements(body: Node | None) -> list[Node]:
    inner = next((c for c in body.named_children if c.type == "statement_list"), None) if body else None
    return [s for s in inner.named_children if s.type != "comment"] if inner is not None else []


def _allocation(stmt: Node) -> Node | None:
    """`&T{...}` or `new(T)` when `stmt` is `t := &T{...}`, `t := new(T)` or `t = ...` of one."""
    left, right = stmt.child_by_field_name("left"), stmt.child_by_field_name("right")
    if stmt.type not in ("short_var_declaration", "assignment_statement") or left is None or right is None:
        return None
    if len(left.named_children) != 1 or len(right.named_children) != 1 or stmt.children[1].type not in ("=", ":="):
        return None
    value = right.named_children[0]
    fn = value.child_by_field_name("function") if value.type == "call_expression" else None
    if fn is not None and fn.text == b"new" and not value.has_error:
        return value
    op, inner = value.child_by_field_name("operator"), value.named_children[0] if value.named_children else None
    return (
        value if op is not None and op.type == "&" and inner is not None and inner.type == "composite_literal" else None
    )


def _allocated(src: SourceFile, value: Node) -> str:
    """The type `&T{...}` or `new(T)` allocates, as written."""
    inner = value.named_children[-1]
    typ = inner.child_by_field_name("type") if inner.type == "composite_literal" else inner.named_children[0]
    return src.text(typ) if typ is not None else ""


def _targets(pass_: Pass, src: SourceFile, value: Node) -> list[EscapeFact]:
    # The compiler puts &T{...} at its & and new(T) at its parenthesis.
    args = value.child_by_field_name("arguments")
    at = {value.start_byte, args.start_byte if args is not None else value.start_byte}
    return [f for f in pass_.facts_within(src, value) if f.kind is Kind.ESCAPES and f.offset in at]


def _signature_problem(src: SourceFile, fn: Node, result: Node) -> str:
    if fn.child_by_field_name("type_parameters") is not None:
        return "a generic function: each instantiation would need its own initializer"
    below, comment = fn, fn.prev_named_sibling
    while comment is not None and comment.type == "comment" and comment.end_point[0] + 1 >= below.start_point[0]:
        if src.text(comment).startswith("//go:noinline"):
            return "marked //go:noinline, so no caller can inline it however small it gets"
        below, comment = comment, comment.prev_named_sibling
    if result.type == "parameter_list" and any(p.child_by_field_name("name") for p in result.named_children):
        return "a named result, which the setup may set or return early with; left alone in this version"
    if result.type == "parameter_list":
        why = "an early return would have to pass through the initializer"
        return f"returns {src.text(result)}: {why}; left alone in this version"
    if result.named_children[0].type == "generic_type":
        return f"{src.text(result.named_children[0])} is generic: each instantiation would need its own initializer"
    return ""


def _body_problem(src: SourceFile, body: Node, stmts: list[Node], decl: Node, local: str) -> str:
    last, own = stmts[-1], _own(body)
    if decl.type != "short_var_declaration":
        return f"{local} is declared apart from its allocation (line {src.line_of(decl.start_byte)})"
    if last.type != "return_statement" or src.text(last).split(None, 1)[1:] != [local]:
        return f"does not end with return {local}"
    if returns := [n for n in own if n.type == "return_statement" and n.id != last.id]:
        return f"returns early (line {src.line_of(returns[0].start_byte)}); only one return at the end is split"
    if defers := [n for n in own if n.type == "defer_statement"]:
        return f"defers a call (line {src.line_of(defers[0].start_byte)}), which would run when the initializer ends"
    right = decl.child_by_field_name("right") or decl
    before = [n for s in stmts[: stmts.index(decl)] for n in walk(s)] + list(walk(right))
    if any(n.type == "identifier" and src.text(n) == local for n in before):
        return f"names another {local} before declaring its own, which the initializer's receiver would hide"
    for node in own:
        # `t = ...`, `for t = range ...`, and `x, t := ...` beside the declaration, where it assigns t too.
        assigns = ":=" not in (c.type for c in node.children) or node.id in {s.id for s in stmts} - {decl.id}
        left = node.child_by_field_name("left") if node.type in _ASSIGNMENTS and assigns else None
        where = f"line {src.line_of(node.start_byte)}"
        if left is not None and local in (src.text(n) for n in left.named_children):
            return f"assigns {local} again ({where}), which the initializer could not pass back"
        if node.type == "unary_expression" and node.text == f"&{local}".encode():
            return f"takes the address of {local} ({where}), which would be the initializer's receiver"
    return ""


def _already_inlined(pass_: Pass, name: str) -> str:
    for f in pass_.facts:
        # The compiler names a callee of the same package without its path.
        if name in f.inlined or f"{pass_.package.import_path}.{name}" in f.inlined:
            return f"the compiler already inlines {name} (into {f.function} at {f.path.name}:{f.line})"
    return ""


def _leak(target: EscapeFact) -> str:
    """The compiler's words when what makes T escape is something else than the function's result."""
    flows = [s for s in target.flow if s.startswith("flow:")]
    if not flows or flows[-1].removeprefix("flow:").strip().startswith("~r"):
        return ""
    return f"the compiler sees it escape other than through the result ({target.why()}), which splitting keeps"


def _has_fields(literal: Node) -> bool:
    body = literal.child_by_field_name("body")
    return body is not None and bool(body.named_children)


def _interface_methods(pass_: Pass) -> frozenset[str]:
    """Method names the package's interfaces declare: a new method must not make *T satisfy one."""
    files = pass_.files()
    return frozenset(
        s.text(n)
        for s in files
        for m in walk(s.root)
        if m.type == "method_elem"
        for n in m.children_by_field_name("name")
    )


def _own(node: Node) -> list[Node]:
    """The nodes of a function body outside the closures it declares."""
    out, stack = [], [node]
    while stack:
        current = stack.pop()
        out.append(current)
        stack.extend(c for c in current.named_children if c.type != "func_literal")
    return out
