"""Sort with slices.SortFunc and cmp.Compare instead of sort.Slice and a less closure.

`sort.Slice(xs, less)` takes the slice as `any`, so the slice header is boxed and escapes to heap
(`xs escapes to heap`), and reflectlite.Swapper allocates a temporary element to swap through.
The generic `slices.SortFunc` swaps typed elements and boxes nothing. Both run one pdqsort (one
template generates them) that only asks `less(i, j)` or `cmp(a, b) < 0`, so where
`cmp.Compare(a.F, b.F) < 0` holds exactly when `a.F < b.F`, every element, equal ones included,
ends where it did: always for integer and string keys, as go/types gives them; for a float key,
except at NaN, which cmp.Compare orders first and `<` not at all, so a float key is taken only
where it is an integer converted to a float. The less function must be `return xs[i].F <
xs[j].F` (or `>`, descending; the key may be converted, `float64(xs[i].F)`). `xs[i] < xs[j]` over
integers or strings becomes `slices.Sort(xs)`; `sort.SliceStable` becomes `slices.SortStableFunc`.

Before:  sort.Slice(users, func(i, j int) bool { return users[i].Age < users[j].Age })
After:   slices.SortFunc(users, func(a, b User) int { return cmp.Compare(a.Age, b.Age) })
"""

from __future__ import annotations

import re

from goescape.engine.codemod import Edit, Match, Pass, Pattern
from goescape.engine.facts import Kind
from goescape.engine.parsing import Node, SourceFile, local_name, walk
from goescape.engine.toolchain import go_line_at_least

NAME = "sort-slice"
PATTERNS = (
    Pattern("sortbasic"),  # sort.Slice(xs, xs[i] < xs[j]) → slices.Sort(xs), integers or strings
    Pattern("sortfunc"),  # sort.Slice by an integer or string key → slices.SortFunc with cmp.Compare
    Pattern(
        "sortfloat",
        differs="differs when a float key is NaN: cmp.Compare orders NaN before every number, "
        "where < leaves it unordered, so the elements end in another order",
    ),
)
QUERY = """
(call_expression
  function: (selector_expression operand: (identifier) @pkg field: (field_identifier) @fn)
  arguments: (argument_list . (identifier) @xs . (func_literal) @less .)
  (#eq? @pkg "sort")
  (#match? @fn "^(Slice|SliceStable)$")) @call
"""

# A path-qualified name in a go/types type string: `example.com/x.T`, `gopkg.in/yaml.v3.Node`.
_QUALIFIED = re.compile(r"([\w.~+-]+(?:/[\w.~+-]+)*)\.([A-Za-z_]\w*)")


def propose(match: Match, pass_: Pass) -> None:
    src, call, pkg, xs_node, less = match.src, match.one("call"), match.one("pkg"), match.one("xs"), match.one("less")
    sort_pkg = pass_.object_of(src, pkg) if pkg is not None else None
    if call is None or xs_node is None or less is None or sort_pkg is None or sort_pkg.imported != "sort":
        return  # not the sort package, or a local name hides it
    xs = src.text(xs_node)
    targets = [f for f in pass_.facts_within(src, xs_node) if f.kind == Kind.ESCAPES and f.expr == xs]
    if not targets:
        return  # nothing is boxed here for the rewrite to remove
    if not go_line_at_least(pass_.package.go_line, 1, 21):
        return pass_.skip(src, call, "the slices and cmp packages need go 1.21 in go.mod", targets)
    compared = _comparison(pass_, src, xs, less)
    if isinstance(compared, str):
        return pass_.skip(src, call, compared, targets)
    key, inner, conv, path, descending = compared
    xs_type, key_type, inner_type = (pass_.type_of(src, n) for n in (xs_node, key, inner))
    if xs_type is None or key_type is None or inner_type is None:
        untyped = next(
            n for n, t in zip((xs_node, key, inner), (xs_type, key_type, inner_type), strict=True) if t is None
        )
        return pass_.skip(src, call, pass_.no_type(src, untyped), targets)
    if xs_type.kind != "slice" or xs_type.elem is None:
        return pass_.skip(src, call, f"{xs} is a {xs_type.text}, not a slice", targets)
    if (elem := _spelled(pass_, src, call, xs_type.elem.text)) is None:
        return pass_.skip(src, call, f"{src.path.name} cannot name the element type {xs_type.elem.text}", targets)
    if not (key_type.integer or key_type.float or key_type.string):
        why = f"{src.text(key)} is a {key_type.text}, which may hold values cmp.Compare orders unlike <"
        return pass_.skip(src, call, why, targets)
    if conv.split(".")[0] in ("a", "b"):
        return pass_.skip(src, call, f"the conversion to {conv} would name a parameter of the new function", targets)
    whole = not path and not conv and not key_type.float  # integers or strings: equal ones are alike
    if whole and not descending:
        new, imports, pattern = f"slices.Sort({xs})", ["slices"], "sortbasic"
    else:
        first, second = ("b", "a") if descending else ("a", "b")
        sort = "SortStableFunc" if match.text("fn") == "SliceStable" and not whole else "SortFunc"
        keys = (f"{conv}({v}{path})" if conv else f"{v}{path}" for v in (first, second))
        body = f"return cmp.Compare({', '.join(keys)})"
        new, imports = f"slices.{sort}({xs}, func(a, b {elem}) int {{ {body} }})", ["cmp", "slices"]
        pattern = "sortfloat" if key_type.float else "sortfunc"
    for imp in imports:
        if problem := pass_.import_problem(src, call, imp):
            return pass_.skip(src, call, problem, targets)
    integral = key_type.float and conv and inner_type.integer
    proven = f"each key is an integer ({inner_type.text}) converted to a float, never NaN" if integral else ""
    pass_.report(
        src,
        call,
        [Edit.replace(src, call, new)],
        targets=targets,
        rationale="slices.SortFunc sorts typed elements: nothing is boxed into an interface or swapped through reflection",
        pattern=pattern,
        proven=proven,
        add_imports=imports,
        drop_imports=["sort"],
    )


def _comparison(pass_: Pass, src: SourceFile, xs: str, less: Node) -> tuple[Node, Node, str, str, bool] | str:
    """(the left key, what it converts, the conversion or "", the field path, whether descending),
    or why the less function is not one comparison of a key of two elements."""
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
    (lconv, linner), (rconv, rinner) = _converted(pass_, src, left), _converted(pass_, src, right)
    element = re.compile(rf"^{re.escape(xs)}\[(\w+)\]((?:\.\w+)*)$")
    lm, rm = element.match(src.text(linner)), element.match(src.text(rinner))
    if lm is None or rm is None or {lm.group(1), rm.group(1)} != set(names) or (lconv, lm[2]) != (rconv, rm[2]):
        return f"the less function compares other than one key of two elements of {xs}"
    return left, linner, lconv, lm.group(2), (src.text(op) == "<") != (lm.group(1) == names[0])


def _converted(pass_: Pass, src: SourceFile, expr: Node) -> tuple[str, Node]:
    """(the type `expr` converts to, what it converts) for a conversion `T(x)`; ("", expr) otherwise."""
    fn, args = expr.child_by_field_name("function"), expr.child_by_field_name("arguments")
    if expr.type != "call_expression" or fn is None or args is None or len(args.named_children) != 1:
        return "", expr
    typ = pass_.type_of(src, fn)
    return (src.text(fn), args.named_children[0]) if typ is not None and typ.is_type else ("", expr)


def _spelled(pass_: Pass, src: SourceFile, at: Node, text: str) -> str | None:
    """A go/types type string as this file writes it at `at` (imports by their names), or None."""
    names: list[str | None] = []

    def local(m: re.Match[str]) -> str:
        name = local_name(src, m.group(1))
        found = pass_.lookup(src, at, name) if name is not None else None
        names.append(name if found is not None and found.imported == m.group(1) and m[2][0].isupper() else None)
        return f"{name}.{m.group(2)}"

    spelled = _QUALIFIED.sub(local, text)
    return spelled if None not in names and '"' not in text else None
