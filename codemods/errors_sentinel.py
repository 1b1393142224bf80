"""Make an error with a constant message once, as a package-level sentinel, not on every call.

`errors.New("empty key")` allocates a new `*errors.errorString` each time it runs
(`&errors.errorString{...} escapes to heap`), and Go 1.26 inlines `fmt.Errorf` of a constant
message into errors.New, so that allocates just the same. `var errEmptyKey = errors.New("empty
key")` allocates once at init; the function then returns it for free. The name comes from the
message's first four words; an unexported sentinel with the same message that nothing compares
is reused. The new var goes just above the function that uses it (above its doc comment): it
reads beside its one user, and rewrites of different functions never insert at the same place.
Identity is the one behaviour that changes: two results used to be different errors and are now
the same one. So a package (tests included) that compares an error with anything but nil or a
package-level name (`err == tt.want`, `errors.Is(err, target)`) is left alone; comparisons made
by importers are out of sight. Test files and an Errorf message holding a `%` are left alone.

Before:  func get(k string) error { if k == "" { return errors.New("empty key") }; return nil }
After:   var errEmptyKey = errors.New("empty key"); func get(k string) error { ...; return errEmptyKey }
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

from goescape.engine.codemod import Context, Edit, Match, Proposal, Skip
from goescape.engine.parsing import local_name
from goescape.engine.facts import EscapeFact
from goescape.engine.parsing import FUNCTION_TYPES, Node, SourceFile, enclosing, walk
from goescape.engine.typeinfo import basic_type, declared

NAME = "errors-sentinel"
QUERY = "[(function_declaration body: (block)) (method_declaration body: (block))] @func"

_STRINGS = ("interpreted_string_literal", "raw_string_literal")
_PERCENT = re.compile(r"%|\\(x25|045|u0025|U00000025)")  # a verb Errorf would format, spelled or escaped
_ERRORISH = re.compile(r"(?i)err")
_FILLER = {"a", "an", "the", "is", "are"}  # words a person leaves out of a name
_PREPOSITIONS = {"in", "to", "of", "for", "with", "on", "at", "by", "from", "into"}


def _message(src: SourceFile, call: Node) -> str | None:
    """The literal of `errors.New("...")` or of `fmt.Errorf("...")` with no arguments, or None."""
    fn, args = call.child_by_field_name("function"), call.child_by_field_name("arguments")
    if call.type != "call_expression" or fn is None or args is None or len(args.named_children) != 1:
        return None
    pkg = {"errors.New": "errors", "fmt.Errorf": "fmt"}.get(src.text(fn))
    if pkg is None or local_name(src, pkg) != pkg or declared(src, pkg, call) is not None:
        return None
    return src.text(args.named_children[0]) if args.named_children[0].type in _STRINGS else None


def _name(message: str, taken: set[str], package: str) -> str | None:
    """errEmptyKey for "json: empty key": its first four words, more only to avoid a name in use."""
    text = re.sub(r"\\.", " ", message[1:-1]).replace("'", "").removeprefix(f"{package}: ")
    words = [w for w in re.findall(r"[A-Za-z0-9]+", text) if w.lower() not in _FILLER]
    for n in range(min(4, len(words)), len(words) + 1):
        cut = words[:n]
        while len(cut) > 1 and n < len(words) and cut[-1].lower() in _PREPOSITIONS:
            cut = cut[:-1]  # "no files named in ..." is errNoFilesNamed
        name = "err" + "".join(w[:1].upper() + w[1:] for w in cut)
        if words and name not in taken:
            return name
    return None


def _comparisons(ctx: Context) -> Iterator[tuple[SourceFile, Node, list[Node]]]:
    """Every `==`, `!=`, `errors.Is` and expression switch in the package, with the operands it compares."""
    for src in ctx.files():
        for node in walk(src.root):
            op, fn = node.child_by_field_name("operator"), node.child_by_field_name("function")
            args = node.child_by_field_name("arguments")
            if node.type == "binary_expression" and op is not None and src.text(op) in ("==", "!="):
                yield src, node, node.named_children
            elif fn is not None and src.text(fn) == "errors.Is" and args is not None:
                yield src, node, args.named_children
            elif node.type == "expression_switch_statement" and (value := node.child_by_field_name("value")):
                cases = [c.child_by_field_name("value") for c in node.named_children if c.type == "expression_case"]
                yield src, node, [value, *(v for c in cases if c is not None for v in c.named_children)]


def _static(src: SourceFile, node: Node, top: set[str]) -> bool:
    """nil, a basic value, a package-level name or a qualified one (io.EOF): no call's fresh error."""
    operand = node.child_by_field_name("operand") if node.type == "selector_expression" else None
    if operand is not None and operand.type == "identifier":
        return declared(src, src.text(operand), node) is None and src.text(operand) not in top
    found = declared(src, src.text(node), node) if node.type == "identifier" else None
    local = found is not None and enclosing(found.node, *FUNCTION_TYPES) is not None
    named = node.type == "identifier" and src.text(node) in top and not local
    fn = node.child_by_field_name("function") if node.type == "call_expression" else None
    text = fn is not None and src.text(fn).endswith((".Error", ".String"))  # a string, not an error
    return named or text or src.text(node) == "nil" or basic_type(src, node) is not None


def _errorish(src: SourceFile, node: Node, returning: set[str]) -> bool:
    """An operand that may hold an error: declared one, named like one, or set from a function returning one."""
    name = node.child_by_field_name("field") if node.type == "selector_expression" else node
    found = declared(src, src.text(node), node) if node.type == "identifier" else None
    callee = found.value.child_by_field_name("function") if found and found.value else None
    from_call = callee is not None and src.text(callee).rsplit(".", 1)[-1] in returning
    named = name is not None and name.type in ("identifier", "field_identifier") and _ERRORISH.search(src.text(name))
    return from_call or bool(named) or (found is not None and found.type == "error")


@lru_cache(maxsize=4)  # one answer per package, asked once per function
def _identity(ctx: Context) -> str:
    """Where the package compares two errors that may both be fresh results, or ""."""
    top = ctx.package_level_names()
    returning = {
        src.text(name)
        for src in ctx.files()
        for decl in src.root.named_children
        if decl.type in FUNCTION_TYPES[:2]
        and (name := decl.child_by_field_name("name")) is not None
        and (result := decl.child_by_field_name("result")) is not None
        and src.text(result).rstrip(")").endswith("error")
    }
    for src, node, operands in _comparisons(ctx):
        dynamic = [o for o in operands if not _static(src, o, top)]
        errorish = node.type == "call_expression" or any(_errorish(src, o, returning) for o in dynamic)
        if len(dynamic) >= 2 and errorish:
            return f"{src.path.name}:{src.line_of(node.start_byte)} ({src.text(node)[:60]})"
    return ""


@lru_cache(maxsize=4)
def _sentinels(ctx: Context) -> dict[str, tuple[str, str]]:
    """Package-level `var errX = errors.New("...")`: message → (name, why it may not be reused, or "")."""
    found: dict[str, tuple[str, str]] = {}
    for src in ctx.files(tests=False):
        for spec in (n for d in src.root.named_children if d.type == "var_declaration" for n in walk(d)):
            names, value = spec.children_by_field_name("name"), spec.child_by_field_name("value")
            values = value.named_children if spec.type == "var_spec" and value is not None else []
            if len(names) == 1 and len(values) == 1 and (message := _message(src, values[0])) is not None:
                name = src.text(names[0])
                exported = f"{name}, with the same message, is exported: callers' errors.Is would match"
                found.setdefault(message, (name, exported if name[0].isupper() else ""))
    for src, node, operands in _comparisons(ctx):
        for message, (name, why) in found.items():
            if not why and any(src.text(o) == name for o in operands):
                where = f"{src.path.name}:{src.line_of(node.start_byte)}"
                found[message] = (name, f"{name}, with the same message, is compared at {where}: it would match")
    return found


@lru_cache(maxsize=4)
def _first_made(ctx: Context) -> dict[str, tuple[SourceFile, Node, Node]]:
    """Message → (file, function, call) of the package's first function that makes an error of it."""
    first: dict[str, tuple[SourceFile, Node, Node]] = {}
    for src in ctx.files(tests=False):
        for decl in (d for d in src.root.named_children if d.type in FUNCTION_TYPES[:2]):
            for node in walk(decl):
                if (message := _message(src, node)) is not None:
                    first.setdefault(message, (src, decl, node))
    return first


def propose(match: Match, ctx: Context) -> list[Proposal | Skip]:
    src, fn = match.src, match.one("func")
    name_node = fn.child_by_field_name("name") if fn is not None else None
    if fn is None or name_node is None or src.path.name.endswith("_test.go"):
        return []
    escapes = [(n, m, f) for n in walk(fn) if (m := _message(src, n)) and (f := _errors(ctx, src, n))]
    function, out = src.text(name_node), list[Proposal | Skip]()
    if not escapes:
        return []
    top = ctx.package_level_names()
    why = "the name errors is declared at package level" if "errors" in top else ""
    if local_name(src, "errors") not in (None, "errors"):
        why = f"{src.path.name} imports errors under another name"
    if compared := _identity(ctx):
        why = f"errors are compared by identity at {compared}: one shared error would make results equal"
    if why:
        every = tuple(f for *_, facts in escapes for f in facts)
        return [Skip(NAME, src.path, src.line_of(escapes[0][0].start_byte), function, why, every)]
    sentinels, first = _sentinels(ctx), _first_made(ctx)
    taken = top | {src.text(n) for n in walk(fn) if n.type == "identifier"}
    new, edits, targets = dict[str, str](), list[Edit](), list[EscapeFact]()
    for call, message, facts in escapes:
        reused, why = sentinels.get(message, ("", ""))
        home, decl, made = first[message]
        name = reused or new.get(message) or _name(message, taken, ctx.package.name)
        if src.text(call).startswith("fmt.") and _PERCENT.search(message):
            why = "the message holds a %, which Errorf would format"
        elif not reused and (home.path, decl.start_byte) != (src.path, fn.start_byte):
            where = f"{home.path.name}:{home.line_of(made.start_byte)}"
            why = f"{message} is made first at {where}, whose sentinel a later run will share"
        elif name is None:
            why = f"err and the first words of {message} name something else already, and no word is left to add"
        if why or name is None:
            out.append(Skip(NAME, src.path, src.line_of(call.start_byte), function, why, tuple(facts)))
            continue
        if not reused:
            new[message] = name
            taken.add(name)
        edits.append(Edit.replace(src, call, name))
        targets += facts
    if not edits:
        return out
    start = fn
    while (prev := start.prev_named_sibling) is not None and prev.type == "comment" and _own_lines(src, prev, start):
        start = prev
    specs = [f"{name} = errors.New({message})" for message, name in new.items()]
    text = f"var {specs[0]}\n\n" if len(specs) == 1 else "var (\n" + "".join(f"\t{s}\n" for s in specs) + ")\n\n"
    line = src.line_of(edits[0].start)
    return [
        *out,
        Proposal(
            codemod=NAME,
            package=ctx.package.import_path,
            path=src.path,
            line=line,
            function=function,
            edits=(*((Edit.insert(src, start.start_byte, text),) if specs else ()), *edits),
            targets=tuple(targets),
            rationale="a package-level sentinel allocates its error once at init instead of on every call",
            add_imports=((src.path, "errors"),) if specs else (),
            drop_imports=((src.path, "errors"), (src.path, "fmt")),
            pattern="sentinel",
        ),
    ]


def _errors(ctx: Context, src: SourceFile, call: Node) -> list[EscapeFact]:
    return [f for f in ctx.facts_within(src, call) if f.expr == "&errors.errorString{...}"]


def _own_lines(src: SourceFile, comment: Node, below: Node) -> bool:
    """Whether a comment is a doc line of `below`: alone on its line, right above it."""
    line_start = src.data.rfind(b"\n", 0, comment.start_byte) + 1
    alone = not src.data[line_start : comment.start_byte].strip()
    return alone and src.line_of(comment.end_byte) >= src.line_of(below.start_byte) - 1
