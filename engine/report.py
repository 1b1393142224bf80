"""Reports for people: rich tables and the gate's summary line (JSON for machines: engine/json_report.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from goescape.engine.benchmarks import Change
from goescape.engine.calibration import Calibration
from goescape.engine.codemod import Codemod
from goescape.engine.console import Console, Table, escape
from goescape.engine.diffs import display_path
from goescape.engine.facts import Class, Classified
from goescape.engine.gate import Verdict
from goescape.engine.ownership import clean_line, elsewhere_line, module_roots, own
from goescape.engine.packages import Package
from goescape.engine.proof import Outcome
from goescape.engine.proposals import Proposal, Skip
from goescape.engine.results import Rejected, Result, Skipped, Verified


def _rel(path: Path, cwd: Path) -> str:
    return str(path) if str(path).startswith("<") else display_path(path, cwd)


def show(console: Console, table: Table) -> None:
    """Print `table`: on a pipe as wide as its content, so no cell is wrapped and no column spread
    to fill a fixed width; on a terminal, fitted to the terminal's width as rich does."""
    if console.is_terminal:
        console.print(table)
        return
    natural = console.measure(table, options=console.options.update_width(_UNBOUNDED)).maximum
    table.width = max(natural, len(str(table.title or "")))
    table.title_justify = "default"  # no spaces after the title
    console.print(table, crop=False)


_UNBOUNDED = 1 << 16  # wider than any table: measured, a table then asks for its content's width


def _advice(item: Classified, cwd: Path) -> str:
    """`item.advice()`, with the place a duplicate repeats relative to `cwd` as every other path."""
    if item.cls is not Class.DUPLICATE:
        return item.advice()
    head, _, column = item.detail.rpartition(":")
    path, _, line = head.rpartition(":")
    if not (path and line.isdigit() and column.isdigit()):
        return item.advice()
    return f"repeats {_rel(Path(path), cwd)}:{line}:{column}"


def scan_tables(
    console: Console,
    items: Sequence[Classified],
    cwd: Path,
    go_version: str,
    shares: dict[int, float] | None = None,
    packages: Sequence[Package] = (),
    left_out: int = 0,
) -> None:
    """One table per package of the escapes in the user's own code (below `module_roots`), the
    counts per class, and one line for the escapes elsewhere; one line when there are none
    (`left_out`: how many --exclude or --min-share dropped before)."""
    roots = module_roots(cwd, packages)
    shown = [i for i in items if own(i, roots)]
    elsewhere = [i for i in items if not own(i, roots)]
    if not shown:
        console.print(clean_line(packages, len(elsewhere), left_out), markup=False, highlight=False)
    by_package: dict[str, list[Classified]] = {}
    for item in shown:
        by_package.setdefault(item.fact.package, []).append(item)
    for package, rows in by_package.items():
        table = Table(title=f"{package}", title_justify="left", show_lines=False)
        columns = ["function", "line", "what escapes", "why", "what can be done"] + (["share"] if shares else [])
        for col in columns:
            table.add_column(col, overflow="fold")
        for item in rows:
            f = item.fact
            # Code such as xs[i] is not rich markup.
            cells = [
                escape(c)
                for c in (
                    f.function,
                    f"{_rel(f.path, cwd)}:{f.line}",
                    f"{f.expr} ({f.kind.value})",
                    f.why(),
                    _advice(item, cwd),
                )
            ]
            if shares is not None:
                cells.append(f"{shares.get(id(item), 0.0):.1%}")
            table.add_row(*cells)
        show(console, table)
    if shown:
        totals = Counter(item.cls for item in shown)
        summary = Table(title=f"escapes measured with {go_version}", title_justify="left")
        summary.add_column("class")
        summary.add_column("count", justify="right")
        for cls in Class:
            summary.add_row(cls.value, str(totals.get(cls, 0)))
        summary.add_row("total", str(len(shown)), style="bold")
        show(console, summary)
    if elsewhere:
        console.print(elsewhere_line(elsewhere), markup=False, highlight=False)


def _proposal_of(result: Result) -> Proposal | Skip:
    return result.skip if isinstance(result, Skipped) else result.proposal


def fix_tables(
    console: Console, outcome: Outcome, cwd: Path, go_version: str, level: str, shares: dict[int, float] | None = None
) -> None:
    results = outcome.results
    counts: dict[str, Counter[str]] = {}
    for r in results:
        name = _proposal_of(r).codemod
        counts.setdefault(name, Counter())["proposed"] += 1
        counts[name][type(r).__name__] += 1
    if not results:
        n = len(outcome.before)
        why = (
            f"no codemod matched any of their {n} escape(s) (goescape scan says why each stays)" if n else "no escapes"
        )
        console.print(f"goescape fix · {go_version}: nothing to propose: {why}", markup=False, highlight=False)
        return
    summary = Table(title=f"goescape fix · {go_version} · --verify {level}", title_justify="left")
    for col in ("codemod", "proposed", "verified", "rejected", "skipped"):
        summary.add_column(col, justify="left" if col == "codemod" else "right")
    for name, c in counts.items():
        summary.add_row(name, str(c["proposed"]), str(c["Verified"]), str(c["Rejected"]), str(c["Skipped"]))
    show(console, summary)
    detail = Table(show_header=True, title="each proposal", title_justify="left")
    for col in ("result", "codemod", "where", "function", "evidence or reason"):
        detail.add_column(col, overflow="fold")
    if shares is not None:
        detail.add_column("share", justify="right")
        order = sorted(results, key=lambda r: -shares.get(id(_proposal_of(r)), 0.0))
    else:  # hot paths first: how often the package's own benchmarks run the line (coverage)
        order = sorted(results, key=lambda r: (-heat(r), str(_proposal_of(r).path), _proposal_of(r).line))
    for r in order:
        p = _proposal_of(r)
        where = f"{_rel(p.path, cwd)}:{p.line}"
        share = [f"{shares.get(id(p), 0.0):.1%}"] if shares is not None else []
        if isinstance(r, Verified):
            gone = "; ".join(f"{t.message} (line {t.line})" for t in r.removed)
            evidence = f"removed: {gone}" if gone else "proof at run time"
            differs = f"; NOT EQUIVALENT for every input: {r.proposal.equivalence}" if r.proposal.equivalence else ""
            detail.add_row(
                "[green]verified[/]",
                p.codemod,
                where,
                p.function,
                escape(f"{evidence}; {r.allocs_text()}{differs}"),
                *share,
            )
        elif isinstance(r, Rejected):
            detail.add_row(
                "[red]rejected[/]", p.codemod, where, p.function, escape(f"{r.stage.value}: {r.reason}"), *share
            )
        else:
            detail.add_row("[yellow]skipped[/]", p.codemod, where, p.function, escape(r.skip.reason), *share)
    if results:
        show(console, detail)
    if shares is None and any(heat(r) for r in results):
        console.print("ranked by how often the packages' own benchmarks run each rewritten line (no --profile given)")
    differ = sum(1 for r in results if isinstance(r, Verified) and r.proposal.equivalence)
    verified = sum(1 for r in results if isinstance(r, Verified))
    if verified:
        console.print(
            f"{verified - differ} verified rewrite(s) equivalent for every input; "
            f"{differ} not (each says when it differs and what proved it cannot here)"
        )
    before, after = len(outcome.before), len(outcome.after)
    console.print(
        f"escapes in the scanned packages with the verified rewrites: {before} → {after} ({after - before:+d})"
    )


def heat(result: Result) -> int:
    """Executions of a verified rewrite's line in one pass of its package's benchmarks; 0 otherwise."""
    return result.measurement.benchmark_runs if isinstance(result, Verified) and result.measurement else 0


def list_table(
    console: Console,
    codemods: Sequence[Codemod],
    rows: Sequence[Calibration] = (),
    off: dict[tuple[str, str], str] | None = None,
    go_version: str = "",
) -> None:
    """The codemods, each with its calibrated patterns' allocs/op on this toolchain when known."""
    table = Table(title=f"codemods{' · calibrated on ' + go_version if rows else ''}", title_justify="left")
    for col in ("name", "default", "what it does", "patterns and equivalence", "allocs/op before → after (ns/op)"):
        table.add_column(col, overflow="fold")
    for c in codemods:
        mine = [r for r in rows if r.codemod == c.name and r.gates]
        figures = "\n".join(
            f"{r.pattern}: {r.allocs_text()} ({r.before.ns:.0f} → {r.after.ns:.0f})"
            + (" — off: saves nothing" if (r.codemod, r.pattern) in (off or {}) else "")
            for r in mine
        )
        if not mine:
            figures = "not calibrated: run `goescape calibrate`" if c.calibration else "no calibration pair"
        default = (
            "on"
            if c.default_on and (not mine or any((r.codemod, r.pattern) not in (off or {}) for r in mine))
            else "off"
        )
        table.add_row(c.name, default, c.summary, patterns_text(c), figures)
    show(console, table)


def calibration_table(
    console: Console, rows: Sequence[Calibration], off: dict[tuple[str, str], str], go_version: str
) -> None:
    table = Table(title=f"calibration on {go_version}", title_justify="left")
    for col in ("codemod", "pattern", "input", "allocs/op", "B/op", "ns/op", "verdict"):
        table.add_column(col, overflow="fold")
    for r in rows:
        verdict = "saves" if r.saves else "no saving"
        if r.gates:
            verdict += " · off by default" if (r.codemod, r.pattern) in off else " · on"
        table.add_row(
            r.codemod,
            r.pattern,
            "typical" if r.gates else r.benchmark,
            r.allocs_text(),
            f"{r.before.bytes:g} → {r.after.bytes:g}",
            f"{r.before.ns:.0f} → {r.after.ns:.0f}",
            verdict,
        )
    show(console, table)


def patterns_text(codemod: Codemod, sep: str = "\n") -> str:
    """Each pattern with its equivalence: `name: equivalent for every input` or `name: differs when ...`."""
    return sep.join(f"{p.name}: {p.describe()}" for p in codemod.patterns.values())


def bench_table(console: Console, changes: Sequence[Change], count: int) -> None:
    if not changes:
        console.print("--bench: no benchmark matched in the changed packages (or nothing changed)")
        return
    table = Table(title=f"benchmarks, {count} runs each side (Mann-Whitney U, α = 0.05)", title_justify="left")
    for col in ("benchmark", "metric", "before", "after", "change", "p"):
        table.add_column(col, justify="left" if col in ("benchmark", "metric") else "right")
    for c in changes:
        style = "" if not c.significant else ("green" if c.after < c.before else "red")
        table.add_row(c.benchmark, c.metric, f"{c.before:g}", f"{c.after:g}", c.delta(), f"{c.p:.3f}", style=style)
    show(console, table)


def check_summary(verdict: Verdict, go_version: str, pgo: str) -> str:
    """One line for people: the counts, what they were compared with, and how they were compiled."""
    against = f"against {verdict.against}" if verdict.against else "(no --base or --baseline: directives only)"
    parts = [
        f"{len(verdict.new)} new escape(s) {against}",
        f"{len(verdict.forbidden)} under noescape",
        f"{len(verdict.ignored)} ignored",
    ]
    if verdict.cold:
        parts.append(f"{len(verdict.cold)} new in cold functions (below --min-share)")
    if verdict.unused:
        parts.append(f"{len(verdict.unused)} unused ignore(s)")
    profile = f" -pgo={pgo}" if pgo else ""
    verdict_word = "FAILED" if verdict.failed else "passed"
    return f"goescape check {verdict_word}: {', '.join(parts)}; {len(verdict.escapes)} escape(s) counted, compiled with {go_version}{profile}"
