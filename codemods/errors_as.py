"""Find an error of a type with errors.AsType instead of errors.As and a target variable.

`errors.As(err, &pe)` takes the target's address as `any` and sets it through reflection, so the
variable is moved to heap (`moved to heap: pe`) on every call. Go 1.26's generic
`errors.AsType[E error](err error) (E, bool)` returns the match instead, and declares it in the if
that tests it: nothing escapes. It walks the same tree of wrapped errors in the same order, tries
err.(E) where errors.As tries assignability, and hands an As method a new *E as errors.As hands it
&pe, so it finds the same error. The target must be declared just before the if (`var pe T`, no
value, so both start from the zero value) and used only inside its then-branch, where it is
declared anew; T must satisfy `error` and be an interface, a pointer to a named type or a named
type that no unnamed type can be assigned to (not a struct with embedded fields), where
assignability and the type assertion agree. The module's go line must be 1.26 or later.

Before:  var pe *fs.PathError; if errors.As(err, &pe) { return pe.Path }
After:   if pe, ok := errors.AsType[*fs.PathError](err); ok { return pe.Path }
"""

from __future__ import annotations

from goescape.engine.codemod import Match, Pattern
from goescape.engine.edits import Edit
from goescape.engine.facts import Kind
from goescape.engine.gotypes import GoType
from goescape.engine.passes import Pass
from goescape.engine.toolchain import go_line_at_least

NAME = "errors-as"
PATTERNS = (Pattern("astype"),)  # var pe T; if errors.As(err, &pe) {...} → if pe, ok := errors.AsType[T](err); ok {...}
QUERY = """
(if_statement
  condition: (call_expression
    function: (selector_expression operand: (identifier) @pkg field: (field_identifier) @fn)
    arguments: (argument_list . (_) @err . (unary_expression operator: "&" operand: (identifier) @target) .))
  consequence: (block) @then
  (#eq? @pkg "errors") (#eq? @fn "As")) @if
"""


def _type_problem(name: str, typ: GoType) -> str:
    """Why errors.AsType[T] may find another error than errors.As with a T target, or ""."""
    if "error" not in typ.implements or typ.kind == "typeparam":
        return f"{name} has type {typ.text}, and errors.AsType takes only a type that implements error"
    if typ.is_interface or (typ.kind == "pointer" and typ.elem is not None and typ.elem.named):
        return ""
    embedded = typ.kind == "struct" and any(n == t.lstrip("*").rsplit(".", 1)[-1] for n, t in typ.fields)
    if not typ.named or embedded:
        return f"an unnamed type may be assignable to {typ.text} where err.({typ.text}) fails"
    return ""


def propose(match: Match, pass_: Pass) -> None:
    src, if_, pkg, target, then = match.src, match.one("if"), match.one("pkg"), match.one("target"), match.one("then")
    err = match.one("err")
    package = pass_.object_of(src, pkg) if pkg is not None else None
    if if_ is None or target is None or then is None or err is None or package is None:
        return
    if package.imported != "errors":
        return  # a local package named errors
    obj, name = pass_.object_of(src, target), src.text(target)
    if obj is None or obj.kind != "var" or obj.path != src.path:
        return
    targets = [f for f in pass_.facts_within(src, if_.parent or if_) if f.offset == obj.offset and f.expr == name]
    if not targets or targets[0].kind != Kind.MOVED:
        return  # nothing is moved to heap here for the rewrite to remove
    decl = if_.prev_named_sibling
    specs = decl.named_children if decl is not None and decl.type == "var_declaration" else []
    spec = specs[0] if len(specs) == 1 and specs[0].type == "var_spec" else None
    names = spec.children_by_field_name("name") if spec is not None else []
    if decl is None or spec is None or [n.start_byte for n in names] != [obj.offset]:
        return pass_.skip(src, if_, f"{name} is not declared alone by the statement just before the if", targets)
    spelled = spec.child_by_field_name("type")
    if spelled is None or spec.child_by_field_name("value") is not None:
        return pass_.skip(src, if_, f"{name} is declared with a value, where errors.AsType starts from zero", targets)
    typ = pass_.type_of(src, spelled)
    if typ is None:
        return pass_.skip(src, if_, pass_.no_type(src, spelled), targets)
    if if_.child_by_field_name("initializer") is not None:
        return pass_.skip(src, if_, "the if already has an init statement", targets)
    if not go_line_at_least(pass_.package.go_line, 1, 26):
        return pass_.skip(src, if_, "errors.AsType needs go 1.26 in go.mod", targets)
    if problem := _type_problem(name, typ):
        return pass_.skip(src, if_, problem, targets)
    for use in pass_.uses(obj):
        inside = then.start_byte <= use.start and use.end <= then.end_byte
        if use.path == src.path and (inside or use.start == target.start_byte):
            continue
        return pass_.skip(src, if_, f"{name} is used outside the if's then-branch ({use.where()})", targets)
    ok = pass_.new_local(src, if_, ["ok", f"{name}OK", "found"])
    if ok is None:
        return pass_.skip(src, if_, f"ok, {name}OK and found are all names used here", targets)
    condition = if_.child_by_field_name("condition")
    if condition is None:
        return
    new = f"{name}, {ok} := errors.AsType[{src.text(spelled)}]({src.text(err)}); {ok}"
    pass_.report(
        src,
        if_,
        [Edit(src.path, decl.start_byte, if_.start_byte, b""), Edit.replace(src, condition, new)],
        targets=targets,
        rationale=f"errors.AsType returns the match: {name} is a local of the if, whose address nothing takes",
        pattern="astype",
    )
