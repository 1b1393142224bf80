"""Delivery: a report rendered to its destinations, and a fix's rewrites reviewed, written, branched or published."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from goescape.engine import __version__, fixcache, formats, json_report, report, sarif
from goescape.engine.benchmarks import Change
from goescape.engine.cachedir import cache_dir
from goescape.engine.calibration import Calibration
from goescape.engine.codemod import Codemod
from goescape.engine.console import Console, Progress, Table, captured, console
from goescape.engine.destinations import Destination
from goescape.engine.destinations import emit as emit_all
from goescape.engine.diffs import apply_root, colour, unified_diff, unified_diffs
from goescape.engine.edits import render_file
from goescape.engine.findings import fix_findings, scan_findings
from goescape.engine.goflags import overlay_files
from goescape.engine.overlay import write_overlay
from goescape.engine.proof import bench, final_contents, verifier_for
from goescape.engine.proposals import Proposal
from goescape.engine.request import FixRequest, ScanRequest
from goescape.engine.results import Verified
from goescape.engine.runner import FixRun, Scan
from goescape.engine.settings import Settings
from goescape.engine.settings import rows as setting_rows
from goescape.engine.toolchain import Toolchain
from goescape.engine.writing import write_all


def emit(
    destinations: Sequence[Destination],
    cwd: Path,
    go_version: str,
    profile_name: str,
    *,
    payload: Callable[[], object],
    findings: Callable[[], Sequence[formats.Finding]],
    text: Callable[[], str],
) -> None:
    """Render and write a command's --format destinations: `payload` is its JSON, `text` what people
    read, and SARIF and GitHub annotations are its `findings`, with paths from the git top (or `cwd`).

    Each callable runs only when a format needs it, so a run without SARIF or annotations builds
    no findings and asks git nothing.
    """
    found = functools.cache(findings)

    def render(fmt: str) -> str:
        if fmt == "json":
            return json.dumps(payload(), indent=2) + "\n"
        if fmt == "sarif":
            log = sarif.sarif(
                found(),
                root=apply_root(cwd),
                tool_version=__version__,
                go_version=go_version,
                properties={"pgo": profile_name},
            )
            return json.dumps(log, indent=2) + "\n"
        if fmt == "github":
            return formats.github(found(), apply_root(cwd))
        return text()

    emit_all(destinations, render, sys.stdout)


def deliver_scan(request: ScanRequest, scans: Sequence[Scan]) -> None:
    """Print or write the scan's tables, JSON, SARIF or annotations."""
    cwd = request.target.cwd
    version = scans[0].go_version

    def payload() -> object:
        if not request.target.all_modules:
            one = scans[0]
            return json_report.scan_json(one.items, cwd, one.go_version, one.shares, one.pgo, one.packages)
        modules = [
            {
                "module": s.module.path,
                "folder": s.module.relative(cwd),
                **json_report.scan_json(s.items, cwd, version, s.shares, s.pgo, s.packages),
            }
            for s in scans
            if s.module is not None
        ]
        return json_report.head("scan", version) | {"modules": modules}

    def tables(out: Console) -> None:
        for s in scans:
            if s.module is not None:
                out.print(f"module {s.module.path} ({s.module.relative(cwd)})", markup=False, highlight=False)
            report.scan_tables(
                out,
                s.items,
                cwd,
                s.go_version + (f" -pgo={s.pgo}" if s.pgo else ""),
                s.shares,
                s.packages,
                left_out=s.left_out,
            )

    emit(
        request.destinations,
        cwd,
        version,
        scans[0].pgo,
        payload=payload,
        findings=lambda: [f for s in scans for f in scan_findings(s.items)],
        text=lambda: captured(tables),
    )


def review(request: FixRequest, run: FixRun) -> FixRun:
    """Ask about each verified rewrite; an edited one is verified again by a verifier kept open.
    Returns the run with only the accepted rewrites verified."""
    from goescape.engine.review import review as ask  # questionary: only --interactive pays its import

    session = run.session
    root = apply_root(request.target.cwd)
    verifier = verifier_for(session, request.level, measure=request.measure, test_flags=request.test_flags)
    try:

        def text(p: Proposal, path: Path | None = None) -> bytes:
            return render_file(session.tc, session.sources[path or p.path], [p])[0]

        def diff_of(p: Proposal) -> str:
            # Every file the proposal edits: errors-sentinel's shared sentinel edits several.
            paths = sorted(p.files | {path for path, _ in p.add_imports})
            return "".join(unified_diff(path, session.sources[path].data, text(p, path), root) for path in paths)

        chosen = ask(
            run.verified(),
            diff_of=diff_of,
            proposed_text=text,
            reverify=lambda p: verifier.verify([p])[0],
            cwd=request.target.cwd,
        )
    finally:
        verifier.close()
        session.oracle.close()
    kept = tuple(r for r in run.results if not isinstance(r, Verified)) + chosen.accepted
    return replace(run, results=kept)


def deliver_fix(request: FixRequest, tc: Toolchain, runs: list[FixRun]) -> int:
    """Deliver a fix: review, guard tests, branch or pull request, diff, overlay, benchmarks, reports and
    writes, in that order. Returns the exit status: 1 with --check when something verified, else 0."""
    cwd, err = request.target.cwd, console(stderr=True)
    write = request.write
    if request.interactive:
        runs[0] = review(request, runs[0])
        write = request.publication is None  # what the user accepted is what they asked to have written
    changes: dict[Path, tuple[bytes, bytes]] = {}
    for run in runs:
        changes.update(final_contents(run.session, run.results))
    session, guard_files = runs[0].session, {}
    if request.guard and changes:
        from goescape.engine.guard import guards

        with Progress() as progress:
            progress("writing guard tests")
            guarded = guards(session, runs[0].verified(), changes)
        guard_files = dict(guarded.files)
        changes.update({path: (b"", data) for path, data in guard_files.items()})
        for v, why in guarded.declined:
            err.print(f"no guard for {v.proposal.title()}: {why}", markup=False, highlight=False)
    made = None
    if request.publication is not None:
        from goescape.engine.publishing import publish

        done = [(run.session, run.results) for run in runs]
        where = cwd if request.target.all_modules else session.cwd
        made = publish(done, where, request.publication, err, guard_files)
        write = False
    # Paths from the repository's top level, as `git diff` writes them: `git apply` reads them from
    # there whichever folder of the work tree it runs in.
    diff = unified_diffs(((p, old, new) for p, (old, new) in changes.items()), apply_root(cwd)) if changes else ""
    if request.write_overlay:
        request.write_overlay.mkdir(parents=True, exist_ok=True)
        written, _ = write_overlay(
            request.write_overlay, {p: new for p, (_, new) in changes.items()}, overlay_files(tc)
        )
        err.print(f"overlay: {written} (go build -overlay={written}, goescape --overlay {written})", markup=False)
    benchmarks = []
    if request.bench:
        with Progress() as progress:
            progress(f"benchmarking {request.bench} ×{request.bench_count} before and after")
            benchmarks = bench(session, runs[0].results, request.bench, request.bench_count, changes)
    for run in runs:
        fixcache.remember(cache_dir() / "fixes", run.verified(), run.contents, tc.version)
    document = fix_document(request, runs, tc.version, benchmarks, diff, bool(write and changes), made)

    def tables(out: Console) -> None:
        for run in runs:
            if run.module is not None:
                out.print(f"module {run.module.path} ({run.module.relative(cwd)})", markup=False, highlight=False)
            compiled_with = tc.version + (f" -pgo={run.pgo}" if run.pgo else "")
            report.fix_tables(out, run.outcome, cwd, compiled_with, request.level, run.shares)
        if request.bench:
            report.bench_table(out, benchmarks, request.bench_count)

    stdout_text = Destination("text", None)
    emit(
        [d for d in request.destinations if d != stdout_text],
        cwd,
        tc.version,
        runs[0].pgo,
        payload=lambda: document,
        findings=lambda: [f for run in runs for f in fix_findings(run.results, run.contents)],
        text=lambda: (diff if not write else "") + captured(tables),
    )
    if stdout_text in request.destinations:
        # The diff alone on a pipe (`goescape fix ./... | git apply`); the tables go to stderr there.
        tty = sys.stdout.isatty()
        if diff and not write:
            sys.stdout.write(colour(diff) if (request.colour if request.colour is not None else tty) else diff)
            sys.stdout.flush()
        tables(console() if tty else err)
    if write and changes:
        write_all(changes)
        if stdout_text in request.destinations:
            err.print(f"wrote {len(changes)} file(s)")
    return 1 if request.check and any(run.verified() for run in runs) else 0


def fix_document(
    request: FixRequest,
    runs: Sequence[FixRun],
    go_version: str,
    benchmarks: Sequence[Change],
    diff: str,
    written: bool,
    branch: dict[str, object] | None,
) -> dict[str, object]:
    """The fix's JSON report: per module with --all-modules, else one set of results at the top."""
    cwd = request.target.cwd

    def summary(run: FixRun) -> dict[str, object]:
        return {
            "pgo": run.pgo or None,
            "results": [json_report.result_json(r, cwd, run.shares) for r in run.results],
            "escapes": {"before": len(run.outcome.before), "after": len(run.outcome.after)},
        }

    head: dict[str, object] = json_report.head("fix", go_version)
    if branch:
        head |= {"branch": branch}
    if request.target.all_modules:
        grouped = [{"module": r.module.path, "folder": r.module.relative(cwd), **summary(r)} for r in runs if r.module]
        return head | {"verify": request.level, "modules": grouped, "diff": diff, "written": written}
    one = summary(runs[0])
    return head | {
        "pgo": one["pgo"],
        "verify": request.level,
        "results": one["results"],
        "escapes": one["escapes"],
        "benchmarks": [json_report.change_json(c) for c in benchmarks],
        "diff": diff,
        "written": written,
    }


def settings_table(command: str, settings: Settings) -> None:
    """`goescape config`: the config file, then each setting's value and where it came from."""
    out = console()
    where = str(settings.config) if settings.config else "none (no goescape.toml beside go.mod)"
    out.print(f"goescape {command}: config file {where}", markup=False, highlight=False)
    table = Table(show_header=True)
    for col in ("setting", "value", "from"):
        table.add_column(col, overflow="fold")
    for key, value, source in setting_rows(settings):
        table.add_row(key, value, source)
    out.print(table)


def listing_json(
    codemods: Sequence[Codemod], rows: Sequence[Calibration], off: Mapping[tuple[str, str], str], version: str
) -> dict[str, object]:
    """`goescape list --json`: each codemod, its equivalence notes and its calibration on `version`."""
    listed = [
        {
            "name": c.name,
            "default": c.default_on,
            "summary": c.summary,
            "equivalence": {p.name: p.describe() for p in c.patterns.values()},
            "patterns": json_report.calibration_json([r for r in rows if r.codemod == c.name], dict(off)),
        }
        for c in codemods
    ]
    return {"go_version": version, "codemods": listed}
