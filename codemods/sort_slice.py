"""Sort with slices.SortFunc and cmp.Compare instead of sort.Slice and a less closure.

`sort.Slice(xs, less)` takes the slice as `any`, so the slice header is boxed and escapes to heap
(`xs escapes to heap`), and reflectlite.Swapper allocates a temporary element to swap through.
The generic `slices.SortFunc` swaps typed elements and boxes nothing; it runs the same pdqsort
(generated from one template), so elements that compare equal end in the same order as before.
Only a less function `return xs[i].F < xs[j].F` (or `>`, for descending) is rewritten, where the
element type is declared in the package and F, through its field path, has an integer or string
type: floats are left alone, because cmp.Compare orders NaN first and `<` does not order it at
all. `xs[i] < xs[j]` over integers or strings becomes `slices.Sort(xs)`; `sort.SliceStable`
becomes `slices.SortStableFunc`.

Before:  sort.Slice(users, func(i, j int) bool { return users[i].Age < users[j].Age })
After:   slices.SortFunc(users, func(a, b User) int { return cmp.Compare(a.Age, b.Age) })
"""

from __future__ import annotations

import re

from goescape.engine.codemod import Context, Edit, Match, Proposal, Skip
from goescape.engine.parsing import local_name
from goescape.engine.facts import Kind
from goescape.engine.parsing import Node, SourceFile, walk
from goescape.engine.toolchain import go_line_at_least
from goescape.engine.typeinfo import BASIC, declared, declared_type

NAME = "sort-slice"
QUERY = """
(call_expression
  function: (selector_expression operand: (identifier) @pkg field: (field_identifier) @fn)
  arguments: (argument_list . (identifier) @xs . (func_literal) @less .)
  (#eq? @pkg "sort")
  (#match? @fn "^(Slice|SliceStable)$")) @call
"""

_ORDERED = BASIC - {"bool", "float32", "float64"}


def propose(match: Match, ctx: Context) -> Proposal | Skip | None:
    src, call, xs_node, less = match.src, match.one("call"), match.one("xs"), match.one("less")
    if call is None or xs_node is None or less is None or local_name(src, "sort") != "sort":
        return None
    xs = src.text(xs_node)
    targets = tuple(f for f in ctx.facts_within(src, xs_node) if f.kind == Kind.ESCAPES and f.expr == xs)
    if not targets:
        return None  # nothing is boxed here for the rewrite to remove
    func = ctx.function_of(src, call)
    func_name = func.child_by_field_name("name") if func is not None else None
    line, function = src.line_of(call.start_byte), src.text(func_name) if func_name is not None else ""

    def skip(reason: str) -> Skip:
        return Skip(NAME, src.path, line, function, reason, targets)

    if not go_line_at_least(ctx.package.go_line, 1, 21):
        return skip("the slices and cmp packages need go 1.21 in go.mod")
    compared = _comparison(src, xs, less)
    if isinstance(compared, str):
        return skip(compared)
    path, descending = compared
    typ = declared_type(src, xs_node) or ""
    if not typ.startswith("[]"):
        return skip(f"the type of {xs} is not known from its declaration to be a slice")
    elem = typ[2:]
    kind = _path_type(ctx, elem, path)
    if kind not in _ORDERED:
        what = (f"the field {path[1:]}" if path else f"the element of {xs}") + (f" ({kind})" if kind else "")
        return skip(f"{what} is not known to be an integer or string, which cmp.Compare orders as < does")
    stable = match.text("fn") == "SliceStable"
    if not path and not descending:
        new, imports = f"slices.Sort({xs})", ["slices"]  # equal integers or strings cannot be told apart
    else:
        first, second = ("b", "a") if descending else ("a", "b")
        sort = "SortStableFunc" if stable and path else "SortFunc"
        body = f"return cmp.Compare({first}{path}, {second}{path})"
        new, imports = f"slices.{sort}({xs}, func(a, b {elem}) int {{ {body} }})", ["cmp", "slices"]
    for imp in imports:
        if local_name(src, imp) not in (None, imp):
            return skip(f"{imp} is imported under another name in {src.path.name}")
        if declared(src, imp, call) is not None or imp in ctx.package_level_names():
            return skip(f"the name {imp} is declared here, so the {imp} package cannot be used")
    return Proposal(
        codemod=NAME,
        package=ctx.package.import_path,
        path=src.path,
        line=line,
        function=function,
        edits=(Edit.replace(src, call, new),),
        targets=targets,
        rationale="slices.SortFunc sorts typed elements: nothing is boxed into an interface or swapped through reflection",
        add_imports=tuple((src.path, imp) for imp in imports),
        drop_imports=((src.path, "sort"),),
        pattern="sortfunc" if path or descending else "sortbasic",
    )


def _comparison(src: SourceFile, xs: str, less: Node) -> tuple[str, bool] | str:
    """(the field path compared, whether the order is descending), or why the less function is not plain."""
    params = less.child_by_field_name("parameters")
    names = [src.text(n) for n in walk(params) if n.type == "identifier"] if params is not None else []
    body = less.child_by_field_name("body")
    stmts = [s for n in (body.named_children if body is not None else []) for s in n.named_children]
    result = stmts[0].named_children if len(stmts) == 1 and stmts[0].type == "return_statement" else []
    exprs = result[0].named_children if len(result) == 1 and result[0].type == "expression_list" else result
    expr = exprs[0] if len(exprs) == 1 and exprs[0].type == "binary_expression" else None
    op = expr.child_by_field_name("operator") if expr is not None else None
    left, right = (expr.child_by_field_name(f) if expr is not None else None for f in ("left", "right"))
    if len(names) != 2 or op is None or src.text(op) not in ("<", ">") or left is None or right is None:
        return "the less function is more than one comparison by < or >"
    element = re.compile(rf"^{re.escape(xs)}\[(\w+)\]((?:\.\w+)*)$")
    lm, rm = element.match(src.text(left)), element.match(src.text(right))
    if lm is None or rm is None or {lm.group(1), rm.group(1)} != set(names) or lm.group(2) != rm.group(2):
        return f"the less function compares other than one field of two elements of {xs}"
    return lm.group(2), (src.text(op) == "<") != (lm.group(1) == names[0])


def _path_type(ctx: Context, typ: str, path: str) -> str | None:
    """The basic type that `typ` followed through the struct fields of `path` (`.In.Age`) is, or None."""
    specs = {
        src.text(name): (src, under)
        for src in ctx.files()
        for decl in src.root.named_children
        if decl.type == "type_declaration"
        for spec in decl.named_children
        if spec.type == "type_spec"
        and spec.child_by_field_name("type_parameters") is None
        and (name := spec.child_by_field_name("name")) is not None
        and (under := spec.child_by_field_name("type")) is not None
    }
    for field in path.split(".")[1:]:
        struct = _resolve(specs, typ.removeprefix("*"))
        if isinstance(struct, str):
            return None
        src, node = struct
        fields = [d for c in node.named_children for d in c.named_children if d.type == "field_declaration"]
        found = [d for d in fields if field in (src.text(n) for n in d.children_by_field_name("name"))]
        kind = found[0].child_by_field_name("type") if found else None
        if kind is None:
            return None
        typ = src.text(kind)
    final = _resolve(specs, typ)
    return final if isinstance(final, str) and final in BASIC else None


def _resolve(specs: dict[str, tuple[SourceFile, Node]], typ: str) -> tuple[SourceFile, Node] | str:
    """A named type followed to its struct declaration, or to the text of what it is defined as."""
    seen: set[str] = set()
    while typ in specs and typ not in seen:
        seen.add(typ)
        src, node = specs[typ]
        if node.type == "struct_type":
            return src, node
        typ = src.text(node)
    return typ
