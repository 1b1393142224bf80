"""Writing in place: all files or none, also when Ctrl-C arrives, and never over a file that changed."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from goescape.engine.errors import WriteFailed
from goescape.engine.toolchain import Toolchain
from goescape.engine.writing import write_all


def _files(root: Path, count: int) -> dict[Path, tuple[bytes, bytes]]:
    changes = {}
    for i in range(count):
        path = root / f"f{i:03d}.go"
        path.write_bytes(b"old %d\n" % i)
        changes[path] = (b"old %d\n" % i, b"new %d\n" % i)
    return changes


def test_writes_every_file_and_leaves_no_temporaries(tmp_path: Path) -> None:
    changes = _files(tmp_path, 5)
    write_all(changes)
    assert all(path.read_bytes() == new for path, (_, new) in changes.items())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in changes)


def test_a_file_changed_on_disk_stops_everything(tmp_path: Path) -> None:
    changes = _files(tmp_path, 5)
    last = sorted(changes)[-1]
    last.write_bytes(b"edited by the user meanwhile\n")
    with pytest.raises(WriteFailed, match="changed on disk"):
        write_all(changes)
    assert all(p.read_bytes() == old for p, (old, _) in changes.items() if p != last)
    assert last.read_bytes() == b"edited by the user meanwhile\n"
    assert len(list(tmp_path.iterdir())) == 5


def test_a_successful_write_keeps_each_file_s_mode_and_owner(tmp_path: Path) -> None:
    changes = _files(tmp_path, 2)
    (plain, script), owner = sorted(changes), (1234, 1234) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    for path, mode in ((plain, 0o664), (script, 0o755)):
        os.chown(path, *owner)
        path.chmod(mode)
    write_all(changes)
    assert all(path.read_bytes() == new for path, (_, new) in changes.items())
    assert [stat.S_IMODE(p.stat().st_mode) for p in (plain, script)] == [0o664, 0o755]
    assert {(p.stat().st_uid, p.stat().st_gid) for p in (plain, script)} == {owner}


@pytest.fixture
def immutable() -> Iterator[Callable[[Path], None]]:
    """Makes a file immutable (chattr +i), so that a rename over it fails; undone afterwards."""
    made: list[Path] = []

    def make(path: Path) -> None:
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"chattr +i needs root and a filesystem that has it: {done.stderr.strip()}")
        made.append(path)

    try:
        yield make
    finally:
        for path in made:
            subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_failure_after_a_file_was_replaced_puts_back_its_bytes_mode_owner_and_time(
    tmp_path: Path, immutable: Callable[[Path], None]
) -> None:
    """The second rename fails after the first replaced its file: the first is put back as it was,
    not as mkstemp's 0600 file of the same bytes stamped now."""
    if shutil.which("chattr") is None:
        pytest.skip("no chattr")
    changes = _files(tmp_path, 2)
    first, second = changes
    owner = (1234, 1234) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    os.chown(first, *owner)
    first.chmod(0o664)
    os.utime(first, ns=(1_600_000_000_123_456_789, 1_600_000_000_987_654_321))
    before = first.stat()
    immutable(second)
    with pytest.raises(WriteFailed, match="every file was put back") as failed:
        write_all(changes)
    assert failed.value.path == str(second)
    after = first.stat()
    assert first.read_bytes() == changes[first][0] and second.read_bytes() == changes[second][0]
    assert stat.S_IMODE(after.st_mode) == 0o664
    assert (after.st_uid, after.st_gid) == owner
    assert after.st_mtime_ns == before.st_mtime_ns
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in changes), "no temporary left"


def test_a_temporary_that_cannot_be_made_changes_nothing_and_says_so(tmp_path: Path) -> None:
    changes = _files(tmp_path, 1)
    [(first, (old, _))] = changes.items()
    first.chmod(0o664)
    before = first.stat()
    gone = tmp_path / "removed meanwhile" / "a_guard_test.go"  # a file to create, in a folder no longer there
    with pytest.raises(WriteFailed, match="no file was changed") as failed:
        write_all({**changes, gone: (b"", b"package a\n")})
    assert failed.value.path == str(gone)
    assert first.read_bytes() == old and first.stat().st_mtime_ns == before.st_mtime_ns
    assert stat.S_IMODE(first.stat().st_mode) == 0o664
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.name], "no temporary left"


def test_ctrl_c_during_the_swap_puts_every_file_back(tmp_path: Path) -> None:
    """A real SIGINT sent the moment the first file is replaced: write_all holds it back, puts every
    file back and raises KeyboardInterrupt. One that lands after write_all returned finds all new."""
    landed = 0
    for attempt in range(10):
        folder = tmp_path / str(attempt)
        folder.mkdir()
        changes = _files(folder, 400)
        first = next(iter(changes))  # the swap renames in this order

        def interrupt_when_swapping(first: Path = first, old: bytes = changes[first][0]) -> None:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                if first.read_bytes() != old:
                    os.kill(os.getpid(), signal.SIGINT)
                    return

        # An interrupt outside write_all is only noted (SIG_IGN), so it cannot be mistaken for one inside.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        thread = threading.Thread(target=interrupt_when_swapping)
        thread.start()
        try:
            write_all(changes)
        except KeyboardInterrupt:
            landed += 1
            assert all(p.read_bytes() == old for p, (old, _) in changes.items()), "every file put back"
        else:
            assert all(p.read_bytes() == new for p, (_, new) in changes.items())
        finally:
            thread.join()
            signal.signal(signal.SIGINT, previous)
        assert not list(folder.glob(".*.goescape")), "no temporary file is left"
    assert landed, "no interrupt landed during the swap in 10 attempts: the test proved nothing"


def test_ctrl_c_while_the_temporaries_are_written_changes_nothing(tmp_path: Path) -> None:
    changes = _files(tmp_path, 50)
    sent = []

    def interrupt_on_first_temporary() -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not sent:
            if list(tmp_path.glob(".*.goescape")):
                os.kill(os.getpid(), signal.SIGINT)
                sent.append(True)

    thread = threading.Thread(target=interrupt_on_first_temporary)
    thread.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            write_all({p: (old, new * 20000) for p, (old, new) in changes.items()})  # slow enough to catch
    finally:
        thread.join()
    assert sent
    assert all(p.read_bytes() == old for p, (old, _) in changes.items())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in changes), "no temporary left"


def test_ctrl_c_stops_the_cli_without_writing(examples_copy: Path, toolchain: Toolchain) -> None:
    original = {p: p.read_bytes() for p in examples_copy.rglob("*.go")}
    command = [sys.executable, "-m", "goescape.engine", "fix", "--write", "-C", str(examples_copy), "./..."]
    interrupted = 0
    for delay in (0.3, 0.6, 1.0):
        # A job started in the background of a non-interactive shell inherits SIGINT ignored, and
        # Python then never raises KeyboardInterrupt: give the child the default, as a terminal would.
        proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        assert not list(examples_copy.rglob(".*.goescape"))
        if proc.returncode == 0:
            break  # finished before Ctrl-C: the files were written whole, which the other tests check
        # 130, or death by SIGINT itself (-2), which a shell reports as the same 130.
        assert proc.returncode in (130, -signal.SIGINT), err
        assert "stopped; no file was changed" in err
        assert {p: p.read_bytes() for p in examples_copy.rglob("*.go")} == original
        interrupted += 1
    assert interrupted, "no run lasted long enough to be interrupted"
