"""The work cache: unchanged inputs are answered from it, changed ones never are, and it stays bounded."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import pytest

from goescape.engine.cli import main
from goescape.engine.toolchain import Toolchain
from goescape.engine.workcache import FORMAT, WorkCache

from .conftest import write_tree
from .reports import report_json

MODULE = {
    "go.mod": "module example.com/w\n\ngo 1.22\n",
    "w.go": 'package w\n\nimport "fmt"\n\nfunc Label(n int) string { return fmt.Sprintf("%d", n) }\n',
}


def _entries(folder: Path) -> dict[Path, int]:
    """Each entry and its inode: a put renames a new file into place, a hit only touches it."""
    return {p: p.stat().st_ino for p in (folder / "work").glob("*/*.pickle")}


def _scan(cwd: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> dict[str, object]:
    capsys.readouterr()
    assert main(["scan", "--json", "-C", str(cwd), *flags, "./..."]) == 0
    report: dict[str, object] = report_json(capsys.readouterr().out)
    return report


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("GOESCAPE_CACHE_DIR", str(folder))
    return folder


def test_an_unchanged_module_is_answered_from_the_cache(
    tmp_path: Path, cache: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tree(tmp_path / "m", MODULE)
    first = _scan(tmp_path / "m", capsys)
    stored = _entries(cache)
    assert len(stored) == 2, "the facts and the proposals"
    second = _scan(tmp_path / "m", capsys)
    assert second == first
    assert _entries(cache) == stored, "nothing recomputed or stored again"


def test_a_changed_file_is_never_answered_from_the_cache(
    tmp_path: Path, cache: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tree(tmp_path / "m", MODULE)
    before = _scan(tmp_path / "m", capsys)
    stored = _entries(cache)
    with (tmp_path / "m" / "w.go").open("a") as fh:
        fh.write("\nfunc Box(n int) *int { return &n }\n")
    after = _scan(tmp_path / "m", capsys)
    assert after["escapes"] != before["escapes"]
    assert any("moved to heap: n" in json.dumps(e) for e in after["escapes"])  # type: ignore[union-attr]
    assert set(_entries(cache)) > set(stored), "new entries for the new inputs; the old ones untouched"


def test_a_file_the_compiler_says_nothing_about_still_changes_the_proposals_key(
    tmp_path: Path, cache: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    # A file the compiler says nothing about is still read by the codemods and the type checker.
    write_tree(tmp_path / "m", {**MODULE, "other.go": "package w\n\nconst Size = 4\n"})
    _scan(tmp_path / "m", capsys)
    stored = set(_entries(cache))
    (tmp_path / "m" / "other.go").write_text("package w\n\nconst Size = 8\n")
    _scan(tmp_path / "m", capsys)
    assert len(set(_entries(cache)) - stored) == 1, "the facts are the same; the proposals are looked up anew"


def test_no_cache_reads_and_writes_nothing(
    tmp_path: Path, cache: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tree(tmp_path / "m", MODULE)
    with_cache = _scan(tmp_path / "m", capsys)
    entries = _entries(cache)
    poisoned = pickle.dumps((FORMAT, []))  # no facts, no proposals: a run that read these reports no escape
    for path in entries:
        path.write_bytes(poisoned)
    assert _scan(tmp_path / "m", capsys, "--no-cache") == with_cache
    assert all(p.read_bytes() == poisoned for p in entries), "nor written"
    assert _scan(tmp_path / "m", capsys)["escapes"] == [], "the poisoned entries are what the cache answers"


def test_an_unreadable_entry_is_a_miss(tmp_path: Path) -> None:
    cache = WorkCache(tmp_path)
    cache.put("ab" * 32, {"x": 1})
    (path,) = tmp_path.glob("*/*.pickle")
    assert cache.get("ab" * 32) == {"x": 1}
    path.write_bytes(path.read_bytes()[:10])
    assert cache.get("ab" * 32) is None


def test_prune_keeps_the_folder_under_its_limit_dropping_the_least_recently_used(tmp_path: Path) -> None:
    cache = WorkCache(tmp_path)
    keys = [f"{i:02d}" * 32 for i in range(10)]
    for i, key in enumerate(keys):
        cache.put(key, b"x" * 1000)
        path = next(tmp_path.glob(f"*/{key}.pickle"))
        os.utime(path, (time.time() - 100 + i, time.time() - 100 + i))
    assert cache.get(keys[0]) is not None  # used just now: the newest
    size = sum(p.stat().st_size for p in tmp_path.glob("*/*.pickle"))
    removed = cache.prune(limit=size // 2)
    left = {p.stem for p in tmp_path.glob("*/*.pickle")}
    assert removed >= 5 and sum(p.stat().st_size for p in tmp_path.glob("*/*.pickle")) <= size // 2
    assert keys[0] in left and keys[-1] in left and keys[1] not in left


def test_two_runs_sharing_the_folder_at_once(tmp_path: Path, cache: Path, toolchain: Toolchain) -> None:
    write_tree(tmp_path / "m", MODULE)
    command = [sys.executable, "-m", "goescape.engine", "scan", "--json", "-C", str(tmp_path / "m"), "./..."]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    assert len({out for out, _ in outs}) == 1
    assert not list((cache / "work").glob("*/.tmp-*")), "no half-written entry is left"
