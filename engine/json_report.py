"""JSON reports for machines: escapes, rewrites and their measurements, the gate's verdict, calibrations, benchmarks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from goescape.engine.benchmarks import Change
from goescape.engine.calibration import Calibration
from goescape.engine.directives import Directive
from goescape.engine.facts import Class, Classified, EscapeFact
from goescape.engine.gate import Escape, Verdict
from goescape.engine.proposals import Proposal
from goescape.engine.report import _proposal_of, _rel
from goescape.engine.results import Measurement, Rejected, Result, Verified

# The JSON reports' shape: a reader checks this before reading further (bumped when a key changes meaning).
JSON_VERSION = 1


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


def scan_json(
    items: Sequence[Classified], cwd: Path, go_version: str, shares: dict[int, float] | None = None, pgo: str = ""
) -> dict[str, Any]:
    totals = Counter(item.cls.value for item in items)

    def extra(item: Classified) -> dict[str, float]:
        return {"share": shares.get(id(item), 0.0)} if shares is not None else {}

    return {
        "version": JSON_VERSION,
        "command": "scan",
        "go_version": go_version,
        "pgo": pgo or None,
        "escapes": [{**fact_json(i.fact, cwd), "class": i.cls.value, "detail": i.detail, **extra(i)} for i in items],
        "totals": {cls.value: totals.get(cls.value, 0) for cls in Class} | {"total": len(items)},
    }


def measurement_json(m: Measurement | None) -> dict[str, Any] | None:
    """A run-time measurement: who ran it, and allocations (and bytes) before and after."""
    if m is None:
        return None
    return {
        "by": m.by,
        "benchmark": m.benchmark,
        "where": m.where,
        "function": m.function,
        "executions": m.executions,
        "benchmark_runs": m.benchmark_runs,
        "allocs": {"before": m.allocs[0], "after": m.allocs[1], "unit": "allocs/op" if m.benchmark else "per run"},
        "bytes": {"before": m.bytes[0], "after": m.bytes[1], "unit": "B/op"} if m.bytes else None,
        "toolchain": m.toolchain,
        "text": m.text(),
    }


def result_json(result: Result, cwd: Path, shares: dict[int, float] | None = None) -> dict[str, Any]:
    p = _proposal_of(result)
    base: dict[str, Any] = {"share": shares.get(id(p), 0.0)} if shares is not None else {}
    base |= {
        "codemod": p.codemod,
        "file": _rel(p.path, cwd),
        "line": p.line,
        "function": p.function,
        "targets": [fact_json(t, cwd) for t in p.targets],
    }
    if isinstance(p, Proposal):
        base["equivalence"] = p.equivalence_text()
    if isinstance(result, Verified):
        return base | {
            "result": "verified",
            "rationale": result.proposal.rationale,
            "removed": [fact_json(t, cwd) for t in result.removed],
            "measurement": measurement_json(result.measurement),
            "not_measured": result.unmeasured if result.measurement is None else "",
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


def calibration_json(rows: Sequence[Calibration], off: dict[tuple[str, str], str]) -> list[dict[str, Any]]:
    return [
        {
            "codemod": r.codemod,
            "pattern": r.pattern,
            "benchmark": r.benchmark,
            "before": {"allocs": r.before.allocs, "bytes": r.before.bytes, "ns": r.before.ns},
            "after": {"allocs": r.after.allocs, "bytes": r.after.bytes, "ns": r.after.ns},
            "saves": r.saves,
            "off_by_default": r.gates and (r.codemod, r.pattern) in off,
            "why_off": off.get((r.codemod, r.pattern), "") if r.gates else "",
        }
        for r in rows
    ]


def change_json(c: Change) -> dict[str, Any]:
    return {
        "benchmark": c.benchmark,
        "metric": c.metric,
        "before": c.before,
        "after": c.after,
        "p": c.p,
        "significant": c.significant,
        "samples": c.samples,
    }


def _escape_json(e: Escape, root: Path) -> dict[str, Any]:
    return fact_json(e.fact, root) | {"fingerprint": e.fingerprint, "occurrence": e.occurrence}


def _directive_json(d: Directive, root: Path) -> dict[str, Any]:
    return {"file": _rel(d.path, root), "line": d.line, "directive": f"{d.tool}:{d.verb}", "reason": d.reason}


def check_json(verdict: Verdict, root: Path, go_version: str, pgo: str) -> dict[str, Any]:
    """The gate's report: what failed it, what was silenced, and what it compared against."""
    return {
        "version": JSON_VERSION,
        "command": "check",
        "go_version": go_version,
        "pgo": pgo or None,
        "against": verdict.against or None,
        "failed": verdict.failed,
        "new": [_escape_json(e, root) for e in verdict.new],
        "forbidden": [_escape_json(e, root) | {"by": _directive_json(d, root)} for e, d in verdict.forbidden],
        "ignored": [_escape_json(e, root) | {"by": _directive_json(d, root)} for e, d in verdict.ignored],
        "cold": [_escape_json(e, root) for e in verdict.cold],
        "unused_ignores": [_directive_json(d, root) for d in verdict.unused],
        "counted": len(verdict.escapes),
    }
