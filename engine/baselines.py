"""Baseline files: the escapes counted today, per match key, for `goescape check --baseline` to compare with."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from goescape.engine.destinations import write_atomic
from goescape.engine.errors import GoescapeError
from goescape.engine.gate import Escape, Key

BASELINE_VERSION = 1


def write_baseline(path: Path, escapes: Sequence[Escape], go_version: str, pgo: str = "") -> None:
    """Record today's escapes as counts per key, sorted, so the file diffs well in review.

    Shape: {"version": 1, "go_version": "go1.26.8", "pgo": "", "escapes": [{"package", "function",
    "kind", "expr", "count"}]}. Errors: GoescapeError naming the file when it cannot be written.
    """
    counts = Counter(e.key for e in escapes)
    rows = [
        {"package": k[0], "function": k[1], "kind": k[2], "expr": k[3], "count": n} for k, n in sorted(counts.items())
    ]
    payload = {"version": BASELINE_VERSION, "go_version": go_version, "pgo": pgo, "escapes": rows}
    # As --format writes its files: atomically, and through a symlink, pipe or device (/dev/null)
    # rather than renaming a plain file over it.
    write_atomic(path, json.dumps(payload, indent=1) + "\n")


def read_baseline(path: Path) -> Counter[Key]:
    """The counts a baseline file records. Errors: GoescapeError naming the file for anything else."""
    hint = "write one with goescape check --write-baseline FILE"
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise GoescapeError("no such baseline file", path=path, hint=hint) from None
    except (OSError, ValueError, RecursionError) as exc:
        raise GoescapeError(f"not a goescape baseline: {str(exc)[:200]}", path=path, hint=hint) from None
    if not isinstance(raw, dict) or raw.get("version") != BASELINE_VERSION or not isinstance(raw.get("escapes"), list):
        raise GoescapeError(f"not a version {BASELINE_VERSION} goescape baseline", path=path, hint=hint)
    counts: Counter[Key] = Counter()
    for row in raw["escapes"]:
        try:
            count = int(row["count"])
            if not 0 < count < 1 << 31:
                raise ValueError(count)
            counts[(str(row["package"]), str(row["function"]), str(row["kind"]), str(row["expr"]))] += count
        except (KeyError, TypeError, ValueError, OverflowError):
            raise GoescapeError(f"a baseline entry is malformed: {str(row)[:200]}", path=path, hint=hint) from None
    return counts


def baseline_note(path: Path, go_version: str, pgo: str) -> str:
    """How a baseline was recorded, when that differs from this run ("" when it does not)."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):
        return ""
    notes = []
    if isinstance(raw, dict) and raw.get("go_version") not in (None, go_version):
        notes.append(f"recorded with {raw.get('go_version')}, compiled now with {go_version}")
    if isinstance(raw, dict) and (raw.get("pgo") or "") != pgo:
        notes.append(f"recorded with -pgo={raw.get('pgo') or 'off'}, now -pgo={pgo or 'off'}")
    return "; ".join(notes)
