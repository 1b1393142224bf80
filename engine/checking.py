"""The gate (`goescape check`): escapes new since a base revision or a baseline, or that a directive forbids."""

from __future__ import annotations

import os
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

from goescape.engine import baselines, directives, formats, gate, json_report, report
from goescape.engine.cachedir import cache_dir
from goescape.engine.console import Progress, console
from goescape.engine.delivery import emit
from goescape.engine.diffs import apply_root
from goescape.engine.errors import GoescapeError, PackageLoadError
from goescape.engine.fixcache import recall
from goescape.engine.globs import excluded
from goescape.engine.goflags import pgo_file, with_pgo
from goescape.engine.profiles import Profile, load_profile
from goescape.engine.request import CheckRequest
from goescape.engine.runner import pgo_text, toolchain_for, work_cache
from goescape.engine.session import Session, load
from goescape.engine.toolchain import find_toolchain


def run_check(request: CheckRequest) -> int:
    """Compile the work tree (and the base), judge, deliver the findings; returns 1 when the gate fails, else 0.

    Errors: GoescapeError for alternatives given together, an empty flag, or a base that does not build.
    """
    t = request.target
    base, baseline, write_baseline_path = request.base, request.baseline, request.write_baseline
    patterns, cwd, exclude = t.patterns, t.cwd, t.exclude
    given = {"--base": base, "--baseline": baseline, "--write-baseline": write_baseline_path}
    if sum(v is not None for v in given.values()) > 1:
        raise GoescapeError("give one of --base, --baseline and --write-baseline", hint="they are alternatives")
    if empty := next((flag for flag, v in given.items() if v is not None and not v.strip()), None):
        # An unset CI variable (--base "$BASE") must not turn the gate into a check of directives alone.
        raise GoescapeError(
            f"{empty} is empty", hint="pass a revision or file; leave the flag out to check directives only"
        )
    tc = toolchain_for(t, cwd)
    with Progress() as progress:
        progress(f"compiling {' '.join(patterns or ('./...',))} with escape diagnostics")
        head = load(tc, patterns or ("./...",), cwd, cache=work_cache(t))
    escapes = [
        e
        for e in gate.counted(head.facts, head.sources, head.cwd, [p.dir for p in head.packages])
        if not excluded(e.fact.path, head.cwd, exclude)
    ]
    profile_name = pgo_text(tc, head.cwd)
    if write_baseline_path:
        target = (cwd / write_baseline_path).resolve()
        baselines.write_baseline(target, escapes, tc.version, profile_name)
        console(stderr=True).print(f"recorded {len(escapes)} escape(s) in {target}", markup=False)
        return 0
    counts, against, root = None, "", apply_root(cwd)
    if base is not None:
        from goescape.engine.worktrees import base_worktree

        with base_worktree(cwd, base, cache_dir()) as b:
            if not head.cwd.is_relative_to(b.top):
                raise GoescapeError(
                    f"the module's go.mod is outside the git repository {b.top}", path=head.cwd, hint="use --baseline"
                )
            there = b.tree / head.cwd.relative_to(b.top)  # the module, as it was at the base
            base_cwd = b.tree / cwd.relative_to(b.top)
            # A package new since the base is all new; the others are still compared.
            old_patterns = [p for p in (patterns or ("./...",)) if _exists_in(p, cwd, base_cwd)]
            counts, missing = Counter[gate.Key](), ""
            if (there / "go.mod").is_file() and old_patterns:
                base_tc, pgo_path = find_toolchain(t.go), pgo_file(tc)
                base_tc = with_pgo(base_tc, pgo_path) if pgo_path is not None else base_tc
                try:
                    with Progress() as progress:
                        progress(f"compiling {' '.join(old_patterns)} at {base}")
                        old = load(base_tc, old_patterns, base_cwd)
                    counts = Counter(
                        e.key
                        for e in gate.counted(old.facts, old.sources, there, [p.dir for p in old.packages])
                        if not excluded(e.fact.path, there, exclude)
                    )
                except PackageLoadError:
                    missing = "; the packages did not exist there"  # everything in them is new
                except GoescapeError as exc:
                    hint = (
                        exc.hint
                        + "; " * bool(exc.hint)
                        + "a base that does not build cannot be compared: use --baseline"
                    )
                    raise GoescapeError(f"at the base {base}: {exc.message}", path=exc.path, hint=hint) from None
            else:
                missing = "; the module did not exist there" if old_patterns else "; the packages did not exist there"
            against = f"base {base} ({b.commit[:12]}){missing}"
    elif baseline is not None:
        recorded = (cwd / baseline).resolve()
        counts = baselines.read_baseline(recorded)
        note = baselines.baseline_note(recorded, tc.version, profile_name)
        against = f"baseline {baseline}" + (f" ({note})" if note else "")
    files = [f for p in head.packages for f in p.go_files if not excluded(f, head.cwd, exclude)]
    hot = None
    if t.profile:
        profile = load_profile(tc, (cwd / t.profile).resolve())
        hot = {e.key: _share(profile, head, e) * 100 >= t.min_share for e in escapes}
    verdict = gate.judge(escapes, counts, directives.directives(files), against=against, hot=hot)
    found = [_with_fix(f, verdict, tc.version) for f in gate.findings(verdict)]

    emit(
        request.destinations,
        cwd,
        tc.version,
        profile_name,
        payload=lambda: json_report.check_json(verdict, root, tc.version, profile_name),
        findings=lambda: found,
        text=lambda: formats.text(found, root) + report.check_summary(verdict, tc.version, profile_name) + "\n",
    )
    if all(d.path is not None for d in request.destinations):
        # Only files were asked for: a CI log still says in one line whether the gate passed.
        print(report.check_summary(verdict, tc.version, profile_name), file=sys.stderr)
    return 1 if verdict.failed else 0


def _exists_in(pattern: str, cwd: Path, base_cwd: Path) -> bool:
    """Whether a directory pattern's folder exists at the base (an import path is taken as it is)."""
    folder = (cwd / (pattern.removesuffix("...").removesuffix("/") or ".")).resolve()
    if not folder.is_dir():
        return True
    return (base_cwd / os.path.relpath(folder, cwd)).is_dir()


def _share(profile: Profile, session: Session, e: gate.Escape) -> float:
    src = session.sources.get(e.fact.path)
    span = gate.function_span(src, e.fact) if src is not None else None
    return profile.function_share(e.fact.path, span, f"{e.fact.package}.{e.fact.function}")


def _with_fix(finding: formats.Finding, verdict: gate.Verdict, go_version: str) -> formats.Finding:
    """A new escape with the verified rewrite a `fix` run cached for this line of this tree."""
    fact = next((e.fact for e in verdict.new if e.fingerprint == finding.fingerprint), None)
    fix = recall(cache_dir() / "fixes", fact, go_version) if fact is not None else None
    return replace(finding, fix=fix) if fix is not None else finding
