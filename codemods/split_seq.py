"""Range over strings.SplitSeq and FieldsSeq instead of the slices Split and Fields build.

`for _, p := range strings.Split(s, sep)` allocates a []string only to walk it once; the
iterators of Go 1.24 (`SplitSeq`, `SplitAfterSeq`, `FieldsSeq`) yield the same substrings one at
a time and, inlined with the loop body on Go 1.25+, allocate nothing (on Go 1.24 the iterator's
closures cost more than the slice did, which calibration finds). The compiler says nothing of the
slice, which strings.genSplit allocates out of sight, so fewer allocations at run time prove it.
Only a range with no index variable is rewritten, and for package bytes only when the loop body
never mentions the split slice: the iterator reads it lazily, where Split had read it all first.

Before:  for _, p := range strings.Split(s, ",") { n += len(p) }
After:   for p := range strings.SplitSeq(s, ",") { n += len(p) }
"""

from __future__ import annotations

import re

from goescape.engine.codemod import Context, Edit, Match, Proposal, Skip
from goescape.engine.parsing import local_name
from goescape.engine.parsing import walk
from goescape.engine.toolchain import go_line_at_least

NAME = "split-seq"
# The compiler reports nothing for this pattern itself, so every file of the package is read.
ANCHORED = False
QUERY = """
(for_statement
  (range_clause
    right: (call_expression
      function: (selector_expression operand: (identifier) @pkg field: (field_identifier) @fn) @callee
      arguments: (argument_list) @args)) @clause
  body: (block) @body
  (#match? @pkg "^(strings|bytes)$")
  (#match? @fn "^(Split|SplitAfter|Fields)$")) @loop
"""


def propose(match: Match, ctx: Context) -> Proposal | Skip | None:
    src, pkg, fn = match.src, match.text("pkg"), match.text("fn")
    loop, clause, callee, args, body = (match.one(n) for n in ("loop", "clause", "callee", "args", "body"))
    if loop is None or clause is None or callee is None or args is None or body is None:
        return None
    if local_name(src, pkg) != pkg:
        return None
    left = clause.child_by_field_name("left")
    names = [src.text(n) for n in left.named_children] if left is not None else []
    func = ctx.function_of(src, loop)
    func_name = func.child_by_field_name("name") if func is not None else None
    line, function = src.line_of(loop.start_byte), src.text(func_name) if func_name is not None else ""

    def skip(reason: str) -> Skip:
        return Skip(NAME, src.path, line, function, reason)

    if names and (len(names) != 2 or names[0] != "_"):
        return skip(f"the loop uses the index, which {pkg}.{fn}Seq does not yield")
    if not go_line_at_least(ctx.package.go_line, 1, 24):
        return skip(f"{pkg}.{fn}Seq needs go 1.24 in go.mod")
    if pkg == "bytes":
        read = {src.text(n) for a in args.named_children for n in walk(a) if n.type == "identifier"}
        if mentioned := sorted(read & {src.text(n) for n in walk(body) if n.type == "identifier"}):
            return skip(f"the loop body uses {mentioned[0]}, which bytes.{fn}Seq reads as it goes")
    edits = [Edit.replace(src, callee, f"{pkg}.{fn}Seq")]
    if left is not None:
        edits.append(Edit.replace(src, left, names[1]))
    return Proposal(
        codemod=NAME,
        package=ctx.package.import_path,
        path=src.path,
        line=line,
        function=function,
        edits=tuple(edits),
        targets=(),
        # The body becomes a closure inlined at each of the iterator's yields, so the compiler reports
        # the loop's own allocations again, at the for keyword or the moved variable, once per yield.
        allowed_new=tuple(sorted({f"^{re.escape(f.expr)}$" for f in ctx.facts_within(src, loop)})),
        rationale=f"{pkg}.{fn}Seq yields each piece in turn instead of allocating a slice of them all",
        pattern="splitseq",
        proof="runtime",
        if_unproven=f"{pkg}.{fn} allocates its slice inside a call the compiler does not report",
    )
