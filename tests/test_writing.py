"""Writing in place: all files or none, also when Ctrl-C arrives, and never over a file that changed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
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


@pytest.mark.parametrize("attempt", range(5))
def test_ctrl_c_during_the_swap_leaves_all_old_or_all_new(tmp_path: Path, attempt: int) -> None:
    changes = _files(tmp_path, 400)
    first = sorted(changes)[0]

    def interrupt_when_swapping() -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if first.read_bytes() != changes[first][0]:
                os.kill(os.getpid(), signal.SIGINT)
                return

    thread = threading.Thread(target=interrupt_when_swapping)
    thread.start()
    try:
        write_all(changes)
        time.sleep(0.05)  # a signal that arrived after the swap is delivered here
    except KeyboardInterrupt:
        pass
    finally:
        thread.join()
    contents = {p.read_bytes() == new for p, (_, new) in changes.items()}
    assert len(contents) == 1, "some files old and some new"
    assert not list(tmp_path.glob(".*.goescape"))


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
