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

`sort.Sort(byX(xs))` boxes the converted slice into sort.Interface (`byX(xs) escapes to heap`), and
`sort.Sort(sort.Reverse(byX(xs)))` allocates the reverse wrapper too. sort.Sort runs the same
pdqsort over the Interface (zsortinterface.go and slices' zsortanyfunc.go differ only in spelling
`data.Less(i, j)` as `cmp(data[i], data[j]) < 0` and `data.Swap` as a swap of elements), so where
byX is a slice type of this package whose Len is `return len(s)`, Swap `s[i], s[j] = s[j], s[i]`
and Less one comparison of an integer or string key, `s[i].F < s[j].F`, equal elements end where
they did. byX itself is left as it is; a float key or a converted one is left alone.

Before:  sort.Slice(users, func(i, j int) bool { return users[i].Age < users[j].Age })
After:   slices.SortFunc(users, func(a, b User) int { return cmp.Compare(a.Age, b.Age) })
"""

from __future__ import annotations

import re

from goescape.engine.codemod import Match, Pattern
from goescape.engine.edits import Edit
from goescape.engine.facts import EscapeFact, Kind
from goescape.engine.parsing import Node, SourceFile, local_name, walk
from goescape.engine.passes import Pass
from goescape.engine.toolchain import go_line_at_least

NAME = "sort-slice"
PATTERNS = (
    Pattern("sortbasic"),  # sort.Slice(xs, xs[i] < xs[j]) → slices.Sort(xs), integers or strings
    Pattern("sortfunc"),  # sort.Slice by an integer or string key → slices.SortFunc with cmp.Compare
    Pattern("sortinterface"),  # sort.Sort(byX(xs)), Less by an integer or string key → slices.SortFunc
    Pattern("sortreverse"),  # sort.Sort(sort.Reverse(byX(xs))) → slices.SortFunc, comparing b with a
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
(call_expression
  function: (selector_expression operand: (identifier) @pkg field: (field_identifier) @fn)
  arguments: (argument_list .
    [(call_expression function: (identifier) @named arguments: (argument_list . (_) @xs .)) @conv
     (call_expression
       function: (selector_expression operand: (identifier) @rpkg field: (field_identifier) @reverse)
       arguments: (argument_list . (call_expression
         function: (identifier) @named arguments: (argument_list . (_) @xs .)) @conv .))] .)
  (#eq? @pkg "sort") (#eq? @fn "Sort")) @call
"""

# A path-qualified name in a go/types type string: `example.com/x.T`, `gopkg.in/yaml.v3.Node`.
_QUALIFIED = re.compile(r"([\w.~+-]+(?:/[\w.~+-]+)*)\.([A-Za-z_]\w*)")


def propose(match: Match, pass_: Pass) -> None:
    src, call, pkg, xs_node, less = match.src, match.one("call"), match.one("pkg"), match.one("xs"), match.one("less")
    sort_pkg = pass_.object_of(src, pkg) if pkg is not None else None
    if call is None or xs_node is None or sort_pkg is None or sort_pkg.imported != "sort":
        return  # not the sort package, or a local name hides it
    if less is None:
        return _sort_interface(match, pass_, call, xs_node)
    xs = src.text(xs_node)
    targets = [f for f in pass_.facts_within(src, xs_node) if f.kind == Kind.ESCAPES and f.expr == xs]
    if not targets:
        return  # nothing is boxed here for the rewrite to remove
    if not go_line_at_least(pass_.package.go_line, 1, 21):
        return pass_.skip(src, call, "the slices and cmp packages need go 1.21 in go.mod", targets)
    compared = _comparison(pass_, src, xs, less)
    if isinstance(compared, str):
        return pass_.skip(src, call, compared, targets)
    stable = match.text("fn") == "SliceStable"
    _rewrite(pass_, src, call, xs_node, src, compared, targets, stable=stable, pattern="")


def _sort_interface(match: Match, pass_: Pass, call: Node, xs_node: Node) -> None:
    """sort.Sort(byX(xs)), or of sort.Reverse(byX(xs)): Less read from byX's own methods."""
    src, conv, named, rpkg = match.src, match.one("conv"), match.one("named"), match.one("rpkg")
    reverse = rpkg is not None
    if conv is None or named is None:
        return
    if rpkg is not None:
        rsort = pass_.object_of(src, rpkg)
        if match.text("reverse") != "Reverse" or rsort is None or rsort.imported != "sort":
            return  # the argument is another call than sort.Reverse
    targets = [
        f
        for f in pass_.facts_within(src, call)
        if f.kind == Kind.ESCAPES and (f.expr == src.text(conv) or (reverse and f.expr.startswith("&sort.reverse{")))
    ]
    if not targets:
        return  # nothing is boxed here for the rewrite to remove
    typename, conv_type = pass_.object_of(src, named), pass_.type_of(src, conv)
    if typename is None or typename.kind != "typename" or conv_type is None or conv_type.kind != "slice":
        return  # a function call, not a conversion to a slice type
    if not go_line_at_least(pass_.package.go_line, 1, 21):
        return pass_.skip(src, call, "the slices and cmp packages need go 1.21 in go.mod", targets)
    name = src.text(named)
    methods = _methods(pass_, typename.key)
    if missing := {"Len", "Less", "Swap"} - set(methods):
        why = f"{name}'s {', '.join(sorted(missing))} is not declared in this package with a value receiver"
        return pass_.skip(src, call, why, targets)
    for method in ("Len", "Swap"):
        msrc, decl, r = methods[method]
        names = _parameters(msrc, decl)
        i, j = names if len(names) == 2 else ("", "")
        plain = f"return len({r})" if method == "Len" else f"{r}[{i}], {r}[{j}] = {r}[{j}], {r}[{i}]"
        if _body(msrc, decl) != plain:
            return pass_.skip(src, call, f"{name}.{method} does more than {plain}", targets)
    msrc, less, recv = methods["Less"]
    compared = _comparison(pass_, msrc, recv, less)
    if isinstance(compared, str):
        return pass_.skip(src, call, f"{name}.Less: {compared}", targets)
    if compared[2]:
        return pass_.skip(src, call, f"{name}.Less converts the key to {compared[2]}", targets)
    key, inner, conv_text, path, descending = compared
    compared = (key, inner, conv_text, path, descending != reverse)
    pattern = "sortreverse" if reverse else "sortinterface"
    _rewrite(pass_, src, call, xs_node, msrc, compared, targets, stable=False, pattern=pattern)


def _methods(pass_: Pass, key: str) -> dict[str, tuple[SourceFile, Node, str]]:
    """The value-receiver methods of the type `key` declared in this package: (file, declaration, receiver)."""
    found: dict[str, tuple[SourceFile, Node, str]] = {}
    for msrc in pass_.files(tests=False):
        for decl in msrc.root.named_children:
            receiver, name = decl.child_by_field_name("receiver"), decl.child_by_field_name("name")
            params = receiver.named_children if receiver is not None and decl.type == "method_declaration" else []
            recv, typ = (
                (params[0].child_by_field_name(f) for f in ("name", "type")) if len(params) == 1 else (None, None)
            )
            if name is None or recv is None or typ is None or typ.type != "type_identifier":
                continue
            obj = pass_.object_of(msrc, typ)
            if obj is not None and obj.key == key:
                found[msrc.text(name)] = (msrc, decl, msrc.text(recv))
    return found


def _parameters(msrc: SourceFile, decl: Node) -> list[str]:
    params = decl.child_by_field_name("parameters")
    return [msrc.text(n) for n in walk(params) if n.type == "identifier"] if params is not None else []


def _body(msrc: SourceFile, decl: Node) -> str:
    """The function's one statement with its spaces collapsed, or "" when it has more or none."""
    body = decl.child_by_field_name("body")
    stmts = [s for n in (body.named_children if body is not None else []) for s in n.named_children]
    return " ".join(msrc.text(stmts[0]).split()) if len(stmts) == 1 else ""


def _rewrite(
    pass_: Pass,
    src: SourceFile,
    call: Node,
    xs_node: Node,
    ksrc: SourceFile,
    compared: tuple[Node, Node, str, str, bool],
    targets: list[EscapeFact],
    *,
    stable: bool,
    pattern: str,
) -> None:
    """Report `call` sorted by slices.Sort or SortFunc, the key read from `ksrc` (the less function's file)."""
    key, inner, conv, path, descending = compared
    xs = src.text(xs_node)
    xs_type, key_type, inner_type = pass_.type_of(src, xs_node), pass_.type_of(ksrc, key), pass_.type_of(ksrc, inner)
    if xs_type is None or key_type is None or inner_type is None:
        untyped = next(
            (s, n)
            for s, n, t in ((src, xs_node, xs_type), (ksrc, key, key_type), (ksrc, inner, inner_type))
            if t is None
        )
        return pass_.skip(src, call, pass_.no_type(*untyped), targets)
    if xs_type.kind != "slice" or xs_type.elem is None:
        return pass_.skip(src, call, f"{xs} is a {xs_type.text}, not a slice", targets)
    if (elem := _spelled(pass_, src, call, xs_type.elem.text)) is None:
        return pass_.skip(src, call, f"{src.path.name} cannot name the element type {xs_type.elem.text}", targets)
    if not (key_type.integer or key_type.float or key_type.string):
        why = f"{ksrc.text(key)} is a {key_type.text}, which may hold values cmp.Compare orders unlike <"
        return pass_.skip(src, call, why, targets)
    if conv.split(".")[0] in ("a", "b"):
        return pass_.skip(src, call, f"the conversion to {conv} would name a parameter of the new function", targets)
    whole = not path and not conv and not key_type.float  # integers or strings: equal ones are alike
    if whole and not descending:
        new, imports, kind = f"slices.Sort({xs})", ["slices"], "sortbasic"
    else:
        first, second = ("b", "a") if descending else ("a", "b")
        sort = "SortStableFunc" if stable and not whole else "SortFunc"
        keys = (f"{conv}({v}{path})" if conv else f"{v}{path}" for v in (first, second))
        body = f"return cmp.Compare({', '.join(keys)})"
        new, imports = f"slices.{sort}({xs}, func(a, b {elem}) int {{ {body} }})", ["cmp", "slices"]
        kind = "sortfloat" if key_type.float else "sortfunc"
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
        pattern=pattern if pattern and kind != "sortfloat" else kind,
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
