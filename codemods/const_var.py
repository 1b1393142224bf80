"""Declare a package-level integer or boolean that nothing assigns as a const, not a var.

Boxing a var into an interface (`fmt.Println(limit)`, `log.Printf("%d", limit)`, an `any`
parameter) copies its value to the heap (`limit escapes to heap`): runtime.convT64 and its
siblings allocate, because the var could change. A constant boxed into an interface points at
read-only data and allocates nothing. The runtime already boxes some values for free: a bool, a
one-byte integer and an integer from 0 to 255 point into runtime.staticuint64s, so those vars are
left alone with that reason, while an int of 1000 or -1 allocates 8 bytes each time (calibrated on
go1.26.8: boxing 1000 goes from 1 to 0 allocs/op, boxing 7 stays at 0). go/types proves the var is
never assigned, incremented or addressed in any file of the package, its tests included, and that
its value is a constant. The type stays exactly the var's: `var n = 5` becomes `const n int = 5`,
since the untyped `const n = 5` would make `n / 2.0` the float 2.5. Where a use would turn into
float arithmetic on constants (`float64(n) * 0.1`), which the compiler computes exactly instead of
rounding each step, the var is left alone. Strings are never touched (`-ldflags -X` sets string
vars at link time), nor exported vars. The vars of one block change in one rewrite: the block
becomes a const block, or they move out of it into one below it, comments and all.

Before:  var limit int64 = 1000; func show() { fmt.Println(limit) }
After:   const limit int64 = 1000; func show() { fmt.Println(limit) }
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from goescape.engine.codemod import Match, Pattern
from goescape.engine.edits import Edit
from goescape.engine.facts import EscapeFact, Kind
from goescape.engine.gotypes import GoObject, GoType, Use
from goescape.engine.parsing import Node, SourceFile, node_at
from goescape.engine.passes import Pass

NAME = "const-var"
PATTERNS = (Pattern("const"),)  # var v T = constant, never assigned → const v T = constant
QUERY = "[(function_declaration body: (block)) (method_declaration body: (block))] @func"

_IDENT = re.compile(r"[A-Za-z_]\w*")
# What the compiler prints for a boxed constant instead of the var's name: `int64(1000)`, `-7`, `true`.
_BOXED_CONSTANT = r"^(?:[\w.]+\()?(?:-?[0-9][\w.+-]*|true|false)\)?$"
# What a use climbs through while the expression holding it stays constant once the var is one.
_CHAIN = ("parenthesized_expression", "unary_expression", "binary_expression", "argument_list", "call_expression")

Boxed = tuple[SourceFile, Node, EscapeFact]  # a use of a var that the compiler reports boxed


@dataclass(frozen=True)
class _Var:
    """A var boxed at `boxed`, and why it may not become a const ("" when it may)."""

    obj: GoObject
    boxed: tuple[Boxed, ...]
    uses: tuple[Use, ...] = ()
    spec: Node | None = None
    why: str = ""


def _plan(pass_: Pass) -> list[list[_Var]]:
    """The boxed package-level vars, those of one declaration together: they change in one rewrite."""
    boxed: dict[str, list[Boxed]] = {}
    for fact in pass_.facts:
        if fact.kind != Kind.ESCAPES or not _IDENT.fullmatch(fact.expr):
            continue
        src = pass_.source(fact.path)
        node = node_at(src, fact.offset)
        obj = pass_.object_of(src, node) if node.type == "identifier" and src.text(node) == fact.expr else None
        if obj is not None and obj.kind == "var" and obj.package_level and obj.type is not None:
            boxed.setdefault(obj.key, []).append((src, node, fact))
    groups: dict[tuple[Path, int], list[_Var]] = {}
    for uses in boxed.values():
        src, at, _ = uses[0]
        obj = pass_.object_of(src, at)
        if obj is None or obj.type is None:
            continue
        decl_src, everywhere = pass_.source(obj.path), pass_.uses(obj)
        spec = node_at(decl_src, obj.offset).parent
        why = _obstacle(pass_, obj, obj.type, decl_src, spec, everywhere)
        decl = spec.parent if spec is not None and spec.parent is not None and not why else None
        key = (obj.path, decl.start_byte if decl is not None else -1 - obj.offset)  # a var declined stays alone
        groups.setdefault(key, []).append(_Var(obj, tuple(uses), everywhere, spec, why))
    return list(groups.values())


def propose(match: Match, pass_: Pass) -> None:
    src, fn = match.src, match.one("func")
    if fn is None:
        return
    for group in pass_.once(_plan):
        home_src, home, _ = group[0].boxed[0]
        if home_src.path != src.path or not fn.start_byte <= home.start_byte < fn.end_byte:
            continue
        targets = [fact for var in group for _, _, fact in var.boxed]
        if group[0].why:
            pass_.skip(home_src, home, group[0].why, targets)
        else:
            _report(pass_, group, targets)


def _report(pass_: Pass, group: list[_Var], targets: list[EscapeFact]) -> None:
    src = pass_.source(group[0].obj.path)
    specs = [var.spec for var in group if var.spec is not None]
    block = specs[0].parent if specs else None
    decl = block if block is None or block.type == "var_declaration" else block.parent
    if block is None or decl is None:
        return
    spelled = {var.obj.name: _spelled(var) for var in group}
    if block.type == "var_declaration" or len([s for s in block.named_children if s.type == "var_spec"]) == len(specs):
        edits = [Edit(src.path, decl.start_byte, decl.start_byte + len("var"), b"const")]
        edits += [Edit.insert(src, var.obj.offset + len(var.obj.name), spelled[var.obj.name]) for var in group]
    else:
        edits = _move_out(src, decl, specs, spelled)
    # The uses are where the boxing stops allocating: as the rewrite's sites, their functions' new
    # lines (`int64(1000) escapes to heap`, a constant that points at read-only data) are its to
    # explain, and their allocations are measured.
    own = set(pass_.package.go_files)
    sites = [(u.path, u.start) for var in group for u in var.uses if u.path in own]
    names = ", ".join(var.obj.name for var in group)
    home_src, home, _ = group[0].boxed[0]
    pass_.report(
        home_src,
        home,
        edits,
        targets=targets,
        rationale=f"boxed into an interface, the constant {names} points at read-only data: no allocation",
        pattern="const",
        allowed_new=[_BOXED_CONSTANT],
        sites=sites,
    )


def _spelled(var: _Var) -> str:
    """The type to add after the name: `const n = 5` would take its type from each use, so spell the
    var's. A var of a named type and no type of its own has a value of that type already."""
    typed = var.spec is not None and var.spec.child_by_field_name("type") is not None
    return "" if typed or var.obj.type is None or var.obj.type.named else f" {var.obj.type.text}"


def _move_out(src: SourceFile, decl: Node, specs: list[Node], spelled: dict[str, str]) -> list[Edit]:
    """Take specs, their doc and line comments out of a var block that keeps other vars, and
    declare them as consts below the block."""
    edits, moved = [], []  # moved: each spec's doc comment lines, and its text
    for spec in specs:
        first = spec
        while (prev := first.prev_sibling) is not None and prev.type == "comment" and _own_line(src, prev):
            first = prev
        start = src.data.rfind(b"\n", 0, first.start_byte) + 1
        end = src.data.find(b"\n", spec.end_byte) + 1
        head, _, tail = src.data[start:end].decode().partition(src.text(spec))
        name = spec.children_by_field_name("name")[0]
        text = src.text(spec).replace(src.text(name), src.text(name) + spelled[src.text(name)], 1)
        moved.append(([line.strip() for line in head.splitlines() if line.strip()], text + tail.rstrip()))
        edits.append(Edit(src.path, start, end, b""))
    if len(moved) == 1:
        text = "".join(f"{line}\n" for line in moved[0][0]) + f"const {moved[0][1]}"
    else:
        text = "const (\n" + "".join(f"\t{line}\n" for doc, spec in moved for line in [*doc, spec]) + ")"
    return [*edits, Edit.insert(src, decl.end_byte, f"\n\n{text}")]


def _obstacle(pass_: Pass, obj: GoObject, var: GoType, src: SourceFile, spec: Node | None, uses: Sequence[Use]) -> str:
    """Why this var may not become a const, or ""."""
    if obj.exported:
        return f"{obj.name} is exported: importers may assign it"
    if var.string:
        return f"{obj.name} is a string, which -ldflags -X may set at link time"
    if var.float or "complex" in var.basic:
        return f"{obj.name} is a {var.text}: constant arithmetic on it would be exact where the var's rounds"
    if not (var.integer or var.boolean):
        return f"{obj.name} is a {var.text}: only integers and booleans are made constants here"
    if spec is None or spec.type != "var_spec" or len(spec.children_by_field_name("name")) != 1:
        return f"{obj.name} is declared with other names in one spec"
    value = spec.child_by_field_name("value")
    values = value.named_children if value is not None else []
    constant = pass_.type_of(src, values[0]) if len(values) == 1 else None
    if constant is None or constant.constant is None:
        return f"the value of {obj.name} is computed at run time, not a constant"
    if var.boolean or (var.size or 8) == 1:
        return f"boxing {obj.name} ({var.text}) allocates nothing already: the runtime points into staticuint64s"
    if 0 <= float(constant.constant) < 256:
        return (
            f"boxing {obj.name} ({constant.constant}) allocates nothing already: values 0-255 point into staticuint64s"
        )
    for use in uses:
        use_src = pass_.source(use.path)
        node = node_at(use_src, use.start)
        if why := _writes(pass_, use_src, node):
            return f"{obj.name} {why} at {use.where()}"
    return ""


def _writes(pass_: Pass, src: SourceFile, node: Node) -> str:
    """How a use of the var would stop compiling or mean something else as a const, or ""."""
    while (parent := node.parent) is not None and parent.type == "parenthesized_expression":
        node = parent
    parent = node.parent
    if parent is None:
        return ""
    holder = parent.parent if parent.type == "expression_list" else None
    if (
        holder is not None
        and holder.type in ("assignment_statement", "range_clause")
        and holder.child_by_field_name("left") == parent
    ):
        return "is assigned"
    if parent.type in ("inc_statement", "dec_statement"):
        return "is incremented or decremented"
    if parent.type == "unary_expression" and src.text(parent).startswith("&"):
        return "has its address taken"
    # Climb the expression that would become constant: float arithmetic there is computed exactly.
    while parent is not None and parent.type in _CHAIN:
        if parent.type == "call_expression":
            callee = parent.child_by_field_name("function")
            kind = pass_.type_of(src, callee) if callee is not None else None
            if kind is None or not kind.is_type:
                break
        if parent.type == "binary_expression":
            sides = [s for s in (parent.child_by_field_name(f) for f in ("left", "right")) if s is not None]
            types = {s: pass_.type_of(src, s) for s in sides}
            if any(t is not None and (t.float or "complex" in t.basic) for t in types.values()):
                return f"is used in {src.text(parent)}, which as a constant would be computed exactly, not rounded"
            if any(t is None or (t.constant is None and s != node) for s, t in types.items()):
                break  # the rest is computed at run time, as it is now
        node, parent = parent, parent.parent
    return ""


def _own_line(src: SourceFile, comment: Node) -> bool:
    line_start = src.data.rfind(b"\n", 0, comment.start_byte) + 1
    return not src.data[line_start : comment.start_byte].strip()
