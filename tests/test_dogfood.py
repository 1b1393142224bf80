"""Dogfood: goescape over part of the Go standard library, through the overlay only.

Every rewrite it calls verified must, applied all together, still build, vet and pass the
packages' own tests; GOROOT is never written.
"""

from __future__ import annotations

import json
from pathlib import Path

from goescape.engine.codemod import Options, load_codemods
from goescape.engine.proof import final_contents, verify
from goescape.engine.results import Level, Rejected, Skipped, Verified
from goescape.engine.session import load, propose
from goescape.engine.toolchain import Toolchain

PACKAGES = ["strings", "strconv", "bytes", "encoding/json", "net/url", "text/template", "go/parser"]


def test_verified_rewrites_of_the_standard_library_pass_its_tests(tmp_path: Path, toolchain: Toolchain) -> None:
    session = load(toolchain, PACKAGES, tmp_path)
    goroot_before = {p: p.read_bytes() for p in session.sources}
    # Every pattern, calibrated to pay or not. Not measured here: running the tests and benchmarks
    # of seven standard packages with every allocation profiled is benchmarks/fixed_point.py's
    # work, not a unit test's; rewrites whose proof is at run time are rejected as unproven.
    proposals = propose(session, load_codemods(), Options())
    outcome = verify(session, proposals, Level.TEST, measure=False)
    verified = [r for r in outcome.results if isinstance(r, Verified)]
    rejected = [r for r in outcome.results if isinstance(r, Rejected)]
    # A run that verifies nothing proves nothing about the rewrites below.
    assert verified, [r.reason for r in rejected][:20]
    assert all(r.reason for r in rejected)
    # Types come from go/types: no reason may claim a type or size is unknown where it knows it.
    reasons = [r.skip.reason for r in outcome.results if isinstance(r, Skipped)]
    assert reasons and not [r for r in reasons if "not known" in r], reasons
    assert {p: p.read_bytes() for p in goroot_before} == goroot_before, "GOROOT was written"

    changes = final_contents(session, outcome.results)
    assert bool(changes) == bool(verified)
    replace = {}
    for i, (path, (_, new)) in enumerate(changes.items()):
        copy = tmp_path / f"{i}_{path.name}"
        copy.write_bytes(new)
        replace[str(path)] = str(copy)
    overlay = tmp_path / "overlay.json"
    overlay.write_text(json.dumps({"Replace": replace}))
    for verb in (["build"], ["vet"], ["test", "-count=1"]):
        out = toolchain.run([*verb, f"-overlay={overlay}", *PACKAGES], tmp_path)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert len(outcome.after) < len(outcome.before), "the verified rewrites remove escapes"
