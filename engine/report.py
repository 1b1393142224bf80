"""Reports: rich tables for people, JSON for machines."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from goescape.engine.codemod import Codemod, Proposal, Skip
from goescape.engine.diffs import display_path
from goescape.engine.facts import Class, Classified, EscapeFact
from goescape.engine.results import Rejected, Result, Skipped, Verified
from goescape.engine.runner import Outcome


def _rel(path: Path, cwd: Path) -> str:
    return str(path) if str(path).startswith("<") else display_path(path, cwd)


def _advice(item: Classified) -> str:
    if item.cls is Class.CODEMOD:
        return f"codemod {item.detail}"
    if item.cls is Class.INLINED:
        return f"allocated inside inlined {item.detail}"
    if item.cls is Class.CONSTANT:
        return "constant: no allocation"
    if item.cls is Class.DUPLICATE:
        return f"repeats {item.detail}"
    return item.detail or "no known rewrite"


def scan_tables(console: Console, items: Sequence[Classified], cwd: Path, go_version: str) -> None:
    by_package: dict[str, list[Classified]] = {}
    for item in items:
        by_package.setdefault(item.fact.package, []).append(item)
    for package, rows in by_package.items():
        table = Table(title=f"{package}", title_justify="left", show_lines=False)
        for col in ("function", "line", "what escapes", "why", "what can be done"):
            table.add_column(col, overflow="fold")
        for item in rows:
            f = item.fact
            table.add_row(
                f.function,
                f"{_rel(f.path, cwd)}:{f.line}",
                f"{f.expr} ({f.kind.value})",
                f.why(),
                _advice(item),
            )
        console.print(table)
    totals = Counter(item.cls for item in items)
    summary = Table(title=f"escapes measured with {go_version}", title_justify="left")
    summary.add_column("class")
    summary.add_column("count", justify="right")
    for cls in Class:
        summary.add_row(cls.value, str(totals.get(cls, 0)))
    summary.add_row("total", str(len(items)), style="bold")
    console.print(summary)


def fact_json(fact: EscapeFact, cwd: Path) -> dict[str, Any]:
    return {
        "package": fact.package,
        "file": _rel(fact.path, cwd),
        "line": fact.line,
        "column": fact.column,
        "offset": fact.offset,
        "kind": fact.kind.value,
        "expr": fact.expr,
        "function": fact.function,
        "message": fact.message,
        "flow": list(fact.flow),
        "inlined": list(fact.inlined),
    }


def scan_json(items: Sequence[Classified], cwd: Path, go_version: str) -> dict[str, Any]:
    totals = Counter(item.cls.value for item in items)
    return {
        "go_version": go_version,
        "escapes": [{**fact_json(i.fact, cwd), "class": i.cls.value, "detail": i.detail} for i in items],
        "totals": {cls.value: totals.get(cls.value, 0) for cls in Class} | {"total": len(items)},
    }


def _proposal_of(result: Result) -> Proposal | Skip:
    return result.skip if isinstance(result, Skipped) else result.proposal


def fix_tables(console: Console, outcome: Outcome, cwd: Path, go_version: str, level: str) -> None:
    results = outcome.results
    counts: dict[str, Counter[str]] = {}
    for r in results:
        name = _proposal_of(r).codemod
        counts.setdefault(name, Counter())["proposed"] += 1
        counts[name][type(r).__name__] += 1
    summary = Table(title=f"goescape fix · {go_version} · --verify {level}", title_justify="left")
    for col in ("codemod", "proposed", "verified", "rejected", "skipped"):
        summary.add_column(col, justify="left" if col == "codemod" else "right")
    for name, c in counts.items():
        summary.add_row(name, str(c["proposed"]), str(c["Verified"]), str(c["Rejected"]), str(c["Skipped"]))
    console.print(summary)
    detail = Table(show_header=True, title="each proposal", title_justify="left")
    for col in ("result", "codemod", "where", "function", "evidence or reason"):
        detail.add_column(col, overflow="fold")
    for r in sorted(results, key=lambda r: (str(_proposal_of(r).path), _proposal_of(r).line)):
        p = _proposal_of(r)
        where = f"{_rel(p.path, cwd)}:{p.line}"
        if isinstance(r, Verified):
            gone = "; ".join(f"{t.message} (line {t.line})" for t in r.removed) or "—"
            detail.add_row("[green]verified[/]", p.codemod, where, p.function, f"removed: {gone}")
        elif isinstance(r, Rejected):
            detail.add_row("[red]rejected[/]", p.codemod, where, p.function, f"{r.stage.value}: {r.reason}")
        else:
            detail.add_row("[yellow]skipped[/]", p.codemod, where, p.function, r.skip.reason)
    if results:
        console.print(detail)
    before, after = len(outcome.before), len(outcome.after)
    console.print(
        f"escapes in the scanned packages with the verified rewrites: {before} → {after} ({after - before:+d})"
    )


def result_json(result: Result, cwd: Path) -> dict[str, Any]:
    p = _proposal_of(result)
    base: dict[str, Any] = {
        "codemod": p.codemod,
        "file": _rel(p.path, cwd),
        "line": p.line,
        "function": p.function,
        "targets": [fact_json(t, cwd) for t in p.targets],
    }
    if isinstance(result, Verified):
        return base | {
            "result": "verified",
            "rationale": result.proposal.rationale,
            "removed": [fact_json(t, cwd) for t in result.removed],
            "checks": list(result.checks),
        }
    if isinstance(result, Rejected):
        return base | {
            "result": "rejected",
            "rationale": result.proposal.rationale,
            "stage": result.stage.value,
            "reason": result.reason,
            "details": result.details,
        }
    return base | {"result": "skipped", "reason": result.skip.reason}


def list_table(console: Console, codemods: Sequence[Codemod]) -> None:
    table = Table(title="codemods", title_justify="left")
    table.add_column("name")
    table.add_column("default")
    table.add_column("what it does", overflow="fold")
    for c in codemods:
        table.add_row(c.name, "on" if c.default_on else "off", c.summary)
    console.print(table)


README_START = "<!-- codemods:start (generated from the codemods' docstrings by `goescape list --markdown`) -->"
README_END = "<!-- codemods:end -->"


def codemod_markdown(codemods: Sequence[Codemod]) -> str:
    """The README's codemod table: name, default, and each docstring's summary and before/after."""
    lines = [README_START, "", "| codemod | default | what it rewrites | before → after |", "|---|---|---|---|"]
    for c in codemods:
        before = next((ln.split(":", 1)[1].strip() for ln in c.doc.splitlines() if ln.startswith("Before:")), "")
        after = next((ln.split(":", 1)[1].strip() for ln in c.doc.splitlines() if ln.startswith("After:")), "")
        pair = f"`{before}` → `{after}`" if before and after else ""
        lines.append(f"| `{c.name}` | {'on' if c.default_on else 'off'} | {c.summary} | {pair} |")
    lines += ["", README_END]
    return "\n".join(lines)


def replace_codemod_table(readme: str, table: str) -> str:
    head, _, rest = readme.partition(README_START)
    _, _, tail = rest.partition(README_END)
    return head + table + tail
