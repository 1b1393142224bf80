"""JSON reports for machines: escapes, rewrites and their measurements, the gate's verdict, calibrations, benchmarks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from goescape.engine.benchmarks import Change
from goescape.engine.calibration import Calibration
from goescape.engine.directives import Directive
from goescape.engine.facts import Class, Classified, EscapeFact
from goescape.engine.formats import kind_rule
from goescape.engine.gate import Escape, Verdict
from goescape.engine.ownership import module_roots, own
from goescape.engine.packages import Package
from goescape.engine.proposals import Proposal
from goescape.engine.report import _proposal_of, _rel
from goescape.engine.results import Measurement, Rejected, Result, Skipped, Verified

# The JSON reports' shape, which engine/schema/report.schema.json describes: a reader checks it before
# reading further. It goes up when a key is renamed or removed or changes meaning; new keys keep it.
SCHEMA_VERSION = 1

SCHEMA_FILE = Path(__file__).parent / "schema" / "report.schema.json"

# Stable identifiers of the classes, for machines; `Class.value` is the text people read.
CLASS_ID: Mapping[Class, str] = {
    Class.CODEMOD: "addressed-by-codemod",
    Class.INLINED: "inlined-callee",
    Class.CONSTANT: "constant-no-allocation",
    Class.DUPLICATE: "duplicate",
    Class.NO_REWRITE: "no-known-rewrite",
}


def head(command: str, go_version: str) -> dict[str, Any]:
    """The keys every report opens with: its schema's version, the command and the Go toolchain."""
    return {"schema_version": SCHEMA_VERSION, "command": command, "go_version": go_version}


def fact_json(fact: EscapeFact, cwd: Path) -> dict[str, Any]:
    """An escape: `kind` is a stable id (the SARIF rule's: "moved-to-heap"), `kind_text` the compiler's words."""
    return {
        "package": fact.package,
        "file": _rel(fact.path, cwd),
        "line": fact.line,
        "column": fact.column,
        "offset": fact.offset,
        "kind": kind_rule(fact.kind),
        "kind_text": fact.kind.value,
        "expr": fact.expr,
        "function": fact.function,
        "message": fact.message,
        "flow": list(fact.flow),
        "inlined": list(fact.inlined),
    }


def scan_json(
    items: Sequence[Classified],
    cwd: Path,
    go_version: str,
    shares: dict[int, float] | None = None,
    pgo: str = "",
    packages: Sequence[Package] = (),
) -> dict[str, Any]:
    """Every escape, in the user's own code or not (`in_module`: below `ownership.module_roots`), and counts per class."""
    totals = Counter(CLASS_ID[item.cls] for item in items)
    roots = module_roots(cwd, packages)

    def escape(item: Classified) -> dict[str, Any]:
        return fact_json(item.fact, cwd) | {
            "class": CLASS_ID[item.cls],
            "class_text": item.cls.value,
            "detail": item.detail,
            "in_module": own(item, roots),
            "share": shares.get(id(item), 0.0) if shares is not None else None,
        }

    return head("scan", go_version) | {
        "pgo": pgo or None,
        "escapes": [escape(i) for i in items],
        "totals": {cls_id: totals.get(cls_id, 0) for cls_id in CLASS_ID.values()} | {"total": len(items)},
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
    """One proposal's result, with the same keys whatever the outcome: null (or empty) where one does not apply."""
    p = _proposal_of(result)
    proposal = p if isinstance(p, Proposal) else None
    verified = result if isinstance(result, Verified) else None
    rejected = result if isinstance(result, Rejected) else None
    skipped = result if isinstance(result, Skipped) else None
    return {
        "result": "verified" if verified else "rejected" if rejected else "skipped",
        "codemod": p.codemod,
        "pattern": (proposal.pattern or None) if proposal else None,
        "file": _rel(p.path, cwd),
        "line": p.line,
        "function": p.function,
        "share": shares.get(id(p), 0.0) if shares is not None else None,
        "targets": [fact_json(t, cwd) for t in p.targets],
        "equivalence": proposal.equivalence_text() if proposal else None,
        "rationale": proposal.rationale if proposal else None,
        "removed": [fact_json(t, cwd) for t in verified.removed] if verified else [],
        "measurement": measurement_json(verified.measurement) if verified else None,
        "not_measured": verified.unmeasured if verified and verified.measurement is None else None,
        "checks": list(verified.checks) if verified else [],
        "stage": rejected.stage.value if rejected else None,
        "reason": rejected.reason if rejected else skipped.skip.reason if skipped else None,
        "details": rejected.details if rejected else None,
    }


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


def _escape_json(e: Escape, root: Path, by: Directive | None = None) -> dict[str, Any]:
    """An escape the gate counted, with the directive that forbids or ignores it (null for none)."""
    directive = _directive_json(by, root) if by is not None else None
    return fact_json(e.fact, root) | {"fingerprint": e.fingerprint, "occurrence": e.occurrence, "by": directive}


def _directive_json(d: Directive, root: Path) -> dict[str, Any]:
    return {"file": _rel(d.path, root), "line": d.line, "directive": f"{d.tool}:{d.verb}", "reason": d.reason}


def check_json(verdict: Verdict, root: Path, go_version: str, pgo: str) -> dict[str, Any]:
    """The gate's report: what failed it, what was silenced, and what it compared against."""
    return head("check", go_version) | {
        "pgo": pgo or None,
        "against": verdict.against or None,
        "failed": verdict.failed,
        "new": [_escape_json(e, root) for e in verdict.new],
        "forbidden": [_escape_json(e, root, d) for e, d in verdict.forbidden],
        "ignored": [_escape_json(e, root, d) for e, d in verdict.ignored],
        "cold": [_escape_json(e, root) for e in verdict.cold],
        "unused_ignores": [_directive_json(d, root) for d in verdict.unused],
        "counted": len(verdict.escapes),
    }
