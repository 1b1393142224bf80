"""`fix --interactive` end to end: the real program under a pseudo-terminal, driven by keys."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pexpect

from goescape.engine.toolchain import Toolchain

from .conftest import git


def test_accept_one_skip_one_quit_writes_exactly_the_accepted_one(examples_copy: Path, toolchain: Toolchain) -> None:
    repo = examples_copy
    git("init", "-q", cwd=repo)
    git("add", "-A", cwd=repo)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "examples", cwd=repo)
    command = [
        sys.executable,
        "-m",
        "goescape.engine",
        "fix",
        "--interactive",
        "--verify",
        "build",
        "--no-measure",
        "./...",
    ]
    child = pexpect.spawn(command[0], command[1:], cwd=str(repo), encoding="utf-8", timeout=180, dimensions=(50, 200))
    child.expect(r"(\d+) verified rewrites? in (\d+) files? to review")
    offered = []
    for key in ("y", "n", "q"):
        child.expect(r"(\S+\.go):(\d+) in (\S+):")
        # The compiler's name, `(*T).M` for a method: its last part is what the source spells.
        offered.append((child.match.group(1), child.match.group(3).rsplit(".", 1)[-1]))
        child.expect("what to do with it")
        child.send(key)
        child.send("\r")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    accepted, skipped, _quit_on = offered
    changed = subprocess.run(["git", "diff", "--name-only"], cwd=repo, capture_output=True, text=True).stdout.split()
    assert accepted[0] in changed
    diff = subprocess.run(["git", "diff", "-U0"], cwd=repo, capture_output=True, text=True).stdout
    changed_lines = [ln for ln in diff.splitlines() if ln.startswith(("+", "-")) and not ln.startswith(("+++", "---"))]
    assert any(accepted[1] in ln for ln in changed_lines), diff
    assert not any(skipped[1] in ln for ln in changed_lines if skipped[1] != accepted[1]), diff
    assert git("status", "--porcelain", cwd=repo).count("\n") == len(changed)
