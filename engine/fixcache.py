"""The fix cache: verified rewrites a `fix` run leaves behind, so the gate and scan can attach them to
the escapes they remove without verifying anything themselves.

A rewrite is stored under the SHA-256 of each file it edits, as those files were when it was verified,
with the escapes it removed and the toolchain that verified it. It is found again only while every one
of those files has the same bytes (the same tree, as far as the rewrite reads it) and the toolchain is
the same: a changed file or a new Go release and the cached rewrite is simply not offered.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from goescape.engine.facts import EscapeFact
from goescape.engine.findings import fix_of
from goescape.engine.formats import Fix, Replacement
from goescape.engine.proposals import Proposal
from goescape.engine.results import Verified

VERSION = 1
KEEP = 4096  # entries (files) kept; the oldest go first


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def remember(
    folder: Path,
    verified: Sequence[Verified],
    final: Callable[[Proposal], Mapping[Path, tuple[bytes, bytes]]],
    go_version: str,
) -> int:
    """Store each verified rewrite under the digests of the files it edits; returns how many were stored.

    `final(p)` gives the proposal's files as (old, new) bytes, imports included. Writes are atomic
    per file and a full cache drops its oldest files; an unwritable cache stores nothing, silently
    (the cache only saves a later run work).
    """
    stored = 0
    for v in verified:
        changes = final(v.proposal)
        if not changes:
            continue
        fix = fix_of(changes, f"{v.proposal.codemod}: {v.proposal.rationale}".strip(": "))
        entry = {
            "version": VERSION,
            "go_version": go_version,
            "files": {str(p): _digest(old) for p, (old, _) in changes.items()},
            "targets": [[t.line, t.column, t.kind.value, t.expr] for t in v.removed],
            "description": fix.description,
            "replacements": [
                {"path": str(r.path), "start": r.start, "end": r.end, "text": r.text.decode("utf-8", "surrogateescape")}
                for r in fix.replacements
            ],
        }
        for path, (old, _) in changes.items():
            if _append(folder / f"{_digest(old)}.json", entry, path):
                stored += 1
    _prune(folder)
    return stored


def _append(file: Path, entry: dict[str, object], path: Path) -> bool:
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        entries = _entries(file)
        entries = [e for e in entries if e != entry] + [entry]
        fd, name = tempfile.mkstemp(prefix=".fix.", dir=file.parent)
        with os.fdopen(fd, "w") as fh:
            json.dump({"path": str(path), "entries": entries}, fh)
        os.replace(name, file)
    except OSError:
        return False
    return True


def _entries(file: Path) -> list[dict[str, object]]:
    try:
        raw = json.loads(file.read_text())
    except (OSError, ValueError):
        return []
    entries = raw.get("entries") if isinstance(raw, dict) else None
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def _prune(folder: Path) -> None:
    try:
        files = sorted(folder.glob("*.json"), key=lambda f: f.stat().st_mtime)
        for old in files[:-KEEP]:
            old.unlink(missing_ok=True)
    except OSError:
        pass


def recall(folder: Path, fact: EscapeFact, go_version: str) -> Fix | None:
    """The cached verified rewrite that removes `fact` from the file as it is now, or None."""
    try:
        data = fact.path.read_bytes()
    except OSError:
        return None
    for entry in _entries(folder / f"{_digest(data)}.json"):
        if entry.get("version") != VERSION or entry.get("go_version") != go_version:
            continue
        targets = entry.get("targets")
        if not isinstance(targets, list) or [fact.line, fact.column, fact.kind.value, fact.expr] not in targets:
            continue
        files = entry.get("files")
        if not isinstance(files, dict) or str(fact.path) not in files:
            continue  # a byte-identical copy elsewhere is another file
        if not all(_same(Path(p), d) for p, d in files.items()):
            continue
        raw = entry.get("replacements")
        replacements = tuple(
            Replacement(
                Path(r["path"]), int(r["start"]), int(r["end"]), str(r["text"]).encode("utf-8", "surrogateescape")
            )
            for r in (raw if isinstance(raw, list) else [])
        )
        return Fix(str(entry.get("description", "")), replacements)
    return None


def _same(path: Path, digest: object) -> bool:
    try:
        return _digest(path.read_bytes()) == digest
    except OSError:
        return False
