"""Diffs that `git apply` takes from wherever the user stands: paths from the repository's top level."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest

from goescape.engine.cli import main
from goescape.engine.diffs import LineMatcher, apply_root, unified_diff
from goescape.engine.toolchain import Toolchain

from .conftest import commit_all, git, git_repo

FAST = ["--verify", "build", "--no-measure", "--codemod", "return-value"]
REWRITTEN = [" M examples/cmd/shopd/main.go", " M examples/shop/shop.go"]


def _apply(diff: str, cwd: Path) -> str:
    """`git apply -v` of `diff` run in `cwd`; returns its stderr, where it names what it applied or skipped."""
    done = subprocess.run(["git", "apply", "-v"], cwd=cwd, input=diff, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_a_module_in_a_subfolder_gets_a_diff_git_applies_from_the_module_and_from_the_top(
    examples_copy: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = examples_copy.parent
    git("init", "-q", cwd=repo)
    commit_all(repo, "examples")
    assert main(["fix", "-C", str(examples_copy), *FAST, "./..."]) == 0
    diff = capsys.readouterr().out
    assert "diff --git a/examples/shop/shop.go b/examples/shop/shop.go\n" in diff

    # `goescape fix ./... | git apply` in the module's folder: git reads the paths from the top level.
    err = _apply(diff, examples_copy)
    assert "Skipped" not in err
    assert sorted(git("status", "--porcelain", cwd=repo).splitlines()) == REWRITTEN
    applied = {p: p.read_bytes() for p in examples_copy.rglob("*.go")}

    # `goescape fix -C examples ./... | git apply` at the top level: the same diff, the same files.
    git("checkout", "-q", ".", cwd=repo)
    assert not git("status", "--porcelain", cwd=repo)
    _apply(diff, repo)
    assert {p: p.read_bytes() for p in examples_copy.rglob("*.go")} == applied


def test_the_root_is_the_work_tree_s_top_also_in_a_worktree_whose_git_is_a_file(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "repo", {"mod/a.go": "package a\n"})
    git("worktree", "add", "-q", str(tmp_path / "wt"), cwd=repo)
    assert (tmp_path / "wt" / ".git").is_file()
    assert apply_root(repo / "mod") == repo.resolve()
    assert apply_root(tmp_path / "wt" / "mod") == (tmp_path / "wt").resolve()

    wt_file = tmp_path / "wt" / "mod" / "a.go"
    diff = unified_diff(wt_file, b"package a\n", b"package a // edited\n", apply_root(wt_file.parent))
    assert diff.startswith("diff --git a/mod/a.go b/mod/a.go\n")
    _apply(diff, wt_file.parent)
    assert wt_file.read_text() == "package a // edited\n"
    assert (repo / "mod" / "a.go").read_text() == "package a\n", "the main checkout is untouched"


def test_outside_a_repository_paths_start_at_the_folder_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # whatever holds tmp_path is not asked
    mod = tmp_path / "outer" / "mod"
    (mod / "sub").mkdir(parents=True)
    source = mod / "sub" / "a.go"
    source.write_text("package a\n")
    assert apply_root(mod) == mod
    diff = unified_diff(source, b"package a\n", b"package a // edited\n", apply_root(mod))
    assert diff.startswith("diff --git a/sub/a.go b/sub/a.go\n")
    _apply(diff, mod)
    assert source.read_text() == "package a // edited\n"


def test_line_matcher_opcodes_rebuild_the_new_lines_and_match_only_equal_ones() -> None:
    rng = random.Random(14)
    for _ in range(2000):
        alphabet = "abcdefg"[: rng.randint(1, 7)]
        old = [rng.choice(alphabet) for _ in range(rng.randint(0, 30))]
        new = list(old)
        for _ in range(rng.randint(0, 6)):
            roll = rng.random()
            if roll < 0.4 and new:
                del new[rng.randrange(len(new))]
            elif roll < 0.8:
                new.insert(rng.randint(0, len(new)), rng.choice(alphabet + "xyz"))
            elif new:
                new[rng.randrange(len(new))] = rng.choice("xyz")
        rebuilt: list[str] = []
        for tag, i1, i2, j1, j2 in LineMatcher(old, new).get_opcodes():
            rebuilt += old[i1:i2] if tag == "equal" else new[j1:j2]  # equal stretches from the old side
        assert rebuilt == new, (old, new)


def test_line_matcher_keeps_every_unchanged_line_of_a_long_repetitive_file() -> None:
    """Where difflib without autojunk is quadratic (minutes on this file), every line is still paired."""
    old = []
    for n in range(1000):
        old += [f"func f{n}() {{", "\tx := 1", "\tif x > 0 {", "\t\treturn", "\t}", f"\tuse{n}(x)", "}", ""]
    new = [line + " // changed" if k % 9 == 0 else line for k, line in enumerate(old)]
    unchanged = sum(i2 - i1 for tag, i1, i2, _, _ in LineMatcher(old, new).get_opcodes() if tag == "equal")
    assert unchanged == sum(k % 9 != 0 for k in range(len(old)))
