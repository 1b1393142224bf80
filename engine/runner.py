"""The runner: the whole pipeline as one call from a request value to a report value (flake8's Application).

`run_scan` compiles and proposes; `run_fix` also ranks, drops what calibration says saves nothing,
and verifies. Neither prints, writes a file or asks a question: delivery does that with the report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from goescape.engine.cachedir import cache_dir
from goescape.engine.calibration import calibrate, unprofitable
from goescape.engine.codemod import Codemod, Options, load_codemods
from goescape.engine.console import Steps, no_steps
from goescape.engine.diffs import display_path
from goescape.engine.directives import directives, honoured
from goescape.engine.errors import GoescapeError
from goescape.engine.facts import Classified
from goescape.engine.globs import excluded
from goescape.engine.goflags import default_pgo, overlay_files, pgo_file, with_overlay, with_pgo
from goescape.engine.modules import Module, find_modules
from goescape.engine.packages import Package
from goescape.engine.parsing import use_overlay
from goescape.engine.profiles import load_profile, rank
from goescape.engine.proof import Outcome, drop_unprofitable, final_contents, verify
from goescape.engine.proposals import Proposal, Skip
from goescape.engine.request import FixRequest, ScanRequest, Target
from goescape.engine.results import Result, Verified
from goescape.engine.session import Session, classify_session, load, propose
from goescape.engine.toolchain import Toolchain, find_toolchain
from goescape.engine.workcache import WorkCache

Announce = Callable[[str], None]


def toolchain_for(target: Target, where: Path | None = None) -> Toolchain:
    """The toolchain, with the user's --overlay and the profile for -pgo in GOFLAGS; tree-sitter reads
    the same files. Without --pgo, the main package's default.pgo of the module at `where` is used,
    so that escapes are those of the binary that ships (GOFLAGS' own -pgo is the user's choice)."""
    tc = find_toolchain(target.go)
    if target.overlay:
        tc = with_overlay(tc, Path(target.overlay))
    if target.pgo:
        tc = with_pgo(tc, (target.cwd / target.pgo).resolve())
    elif where is not None and "-pgo=" not in tc.run(["env", "GOFLAGS"], where).stdout:
        profile = default_pgo(tc, where)
        tc = with_pgo(tc, profile) if profile is not None else tc
    use_overlay(overlay_files(tc))
    return tc


def work_cache(target: Target) -> WorkCache:
    """The user cache directory's work cache; an empty one with --no-cache."""
    return WorkCache(cache_dir() / "work" if target.cache else None)


def select(names: Sequence[str]) -> list[Codemod]:
    """The named codemods, or those on by default; an unknown name is an error naming `goescape list`."""
    codemods = load_codemods()
    if not names:
        return [c for c in codemods if c.default_on]
    known = {c.name: c for c in codemods}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise GoescapeError(f"unknown codemod {unknown[0]!r}", hint="`goescape list` shows them")
    return [known[n] for n in names]


def places(target: Target, go: Toolchain | None = None) -> list[tuple[Module | None, Path, tuple[str, ...]]]:
    """Where to run: each module with --all-modules (which takes no patterns), else the patterns at cwd."""
    if not target.all_modules:
        return [(None, target.cwd, target.patterns or ("./...",))]
    if target.patterns:
        raise GoescapeError(
            f"--all-modules covers ./... of every module, so it takes no patterns (got {' '.join(target.patterns)})",
            hint="leave the patterns out, or drop --all-modules and run inside one module",
        )
    modules = find_modules(go or find_toolchain(target.go), target.cwd)
    return [(m, m.root, ("./...",)) for m in modules]


def pgo_text(tc: Toolchain, root: Path) -> str:
    """The profile every compile used, as reports name it ("" without one)."""
    profile = pgo_file(tc)
    return display_path(profile, root) if profile is not None else ""


@dataclass(frozen=True)
class Scan:
    """What `scan` found in one module (or in the patterns given)."""

    module: Module | None
    go_version: str
    items: list[Classified]
    shares: dict[int, float] | None  # id(item) → share of the profile, with --profile
    pgo: str
    packages: tuple[Package, ...] = ()  # the packages compiled: their modules' folders hold the user's own code
    left_out: int = 0  # escapes --exclude or --min-share dropped


def run_scan(request: ScanRequest, progress: Steps = no_steps) -> list[Scan]:
    """Compile, propose and classify every escape, in each place; ranked by the profile if given.
    `progress` hears each step."""
    target, scans = request.target, []
    for module, where, wanted in places(target):
        tc = toolchain_for(target, where)
        # Read before compiling: a file that is no profile is refused before any long work.
        profile = load_profile(tc, (target.cwd / target.profile).resolve()) if target.profile else None
        progress(_compiling(module, wanted))
        session = load(tc, wanted, where, include_generated=request.include_generated, cache=work_cache(target))
        progress(_proposing(session))
        proposals = propose(session, select(()), Options(), check_gofmt=False)
        found = classify_session(session, proposals)
        items = [i for i in found if not excluded(i.fact.path, session.cwd, target.exclude)]
        shares: dict[int, float] | None = None
        if profile is not None:
            shares = {id(i): profile.line_share(i.fact.path, i.fact.line) for i in items}
            items = [i for i in sorted(items, key=lambda i: -shares[id(i)]) if shares[id(i)] * 100 >= target.min_share]
        scans.append(
            Scan(
                module, tc.version, items, shares, pgo_text(tc, session.cwd), session.packages, len(found) - len(items)
            )
        )
    return scans


@dataclass(frozen=True)
class FixRun:
    """What `fix` did in one module (or in the patterns given): its session, outcome and results."""

    module: Module | None
    session: Session
    outcome: Outcome
    results: tuple[Result, ...]
    shares: dict[int, float] | None
    pgo: str

    def verified(self) -> list[Verified]:
        return [r for r in self.results if isinstance(r, Verified)]

    def contents(self, p: Proposal) -> dict[Path, tuple[bytes, bytes]]:
        """The files as `p`'s verified rewrite alone leaves them (for the fix cache and SARIF fixes)."""
        return final_contents(self.session, [r for r in self.verified() if r.proposal == p])


def run_fix(
    request: FixRequest, progress: Steps = no_steps, announce: Announce = lambda _msg: None
) -> tuple[Toolchain, list[FixRun]]:
    """Propose, rank, calibrate and verify in each place; returns the toolchain and one run per place.
    `progress` hears each step (compile, propose, calibrate, each stage of verification, with how
    many of how many where it counts); `announce` each module of --all-modules (a line of its own).

    Errors: GoescapeError (and its kinds) for what the user can fix, raised before any verification
    when the request itself is wrong (an overlay with --write, an unknown codemod).
    """
    target = request.target
    tc = toolchain_for(target, target.cwd)
    if overlay_files(tc) and request.changes_files:
        raise GoescapeError(
            "--write, --interactive, --branch and --pr change the files on disk, which the overlay replaces",
            path=target.overlay or "GOFLAGS -overlay",
            hint="use --write-overlay DIR to get the rewritten files as another overlay",
        )
    codemods = select(request.codemods)
    if target.all_modules:
        together = [
            f
            for f, on in (
                ("--interactive", request.interactive),
                ("--guard", request.guard),
                ("--bench", request.bench),
            )
            if on
        ]
        if together:
            raise GoescapeError(
                f"{together[0]} does not work with --all-modules yet",
                hint="run it inside each module (-C DIR), or drop --all-modules",
            )
    runs: list[FixRun] = []
    for module, where, wanted in places(target, tc):
        here = tc if module is None else toolchain_for(target, where)
        if module is not None:
            announce(f"module {module.path} ({module.relative(target.cwd)})")
        # Read before compiling: a file that is no profile is refused before any long work.
        profile = load_profile(here, (target.cwd / target.profile).resolve()) if target.profile else None
        progress(_compiling(module, wanted))
        session = load(here, wanted, where, cache=work_cache(target))
        progress(_proposing(session))
        proposals = [
            _left_out(p, target.exclude) if excluded(p.path, session.cwd, target.exclude) else p
            for p in propose(session, codemods, request.options)
        ]
        files = {p.path for p in proposals} | {t.path for p in proposals for t in p.targets if t.path.is_file()}
        proposals = honoured(proposals, directives(files))
        shares: dict[int, float] | None = None
        if profile is not None:
            # Rank before verifying: what --min-share drops is never compiled, tested or measured.
            proposals, shares = rank(proposals, profile, target.min_share / 100)
        if not request.all_patterns and any(isinstance(p, Proposal) for p in proposals):
            proposals = drop_unprofitable(proposals, unprofitable(calibrate(here, codemods, progress=progress)))
        outcome = verify(
            session, proposals, request.level, progress, measure=request.measure, test_flags=request.test_flags
        )
        runs.append(FixRun(module, session, outcome, outcome.results, shares, pgo_text(here, session.cwd)))
    return tc, runs


def _compiling(module: Module | None, wanted: Sequence[str]) -> str:
    return f"compiling {' '.join(wanted)}" + (f" of {module.path}" if module else "") + " with escape diagnostics"


def _proposing(session: Session) -> str:
    count = len(session.packages)
    return f"proposing rewrites in {count} package{'' if count == 1 else 's'}"


def _left_out(p: Proposal | Skip, exclude: Sequence[str]) -> Skip:
    if isinstance(p, Skip):
        return p
    return Skip(p.codemod, p.path, p.line, p.function, f"left out by exclude ({', '.join(exclude)})", p.targets)
