"""Campaign SPECs: the repositories a campaign runs over, from a SPEC file or a forge organisation."""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from goescape.engine.errors import GoescapeError
from goescape.engine.forges import TOKENS, forge_for, guess_kind


@dataclass(frozen=True)
class Entry:
    """One repository of the SPEC: a git URL or a local path, and the ref to start from."""

    url: str
    ref: str | None


def _is_url(text: str) -> bool:
    return "://" in text or bool(re.match(r"^[\w.-]+@[\w.-]+:", text))


def read_spec(path: Path) -> list[Entry]:
    """The SPEC file: one `URL [REF]` per line; `#` starts a comment; a local path is relative
    to the SPEC's folder. Errors: GoescapeError naming FILE:LINE."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:  # missing, a folder, a bad name, not UTF-8 text
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise GoescapeError(
            f"cannot read the SPEC: {why}", path=str(path)[:200], hint="one `URL [REF]` per line"
        ) from exc
    entries: list[Entry] = []
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        where = f"{path}:{number}"
        if len(words) > 2:
            raise GoescapeError(f"expected `URL [REF]`, found {len(words)} words", path=where)
        url = words[0]
        if len(url) > 1000 or "\0" in line:
            raise GoescapeError("not a repository URL or path (too long, or a NUL byte)", path=where)
        if "://" in url and urllib.parse.urlparse(url).password:
            raise GoescapeError(
                "a URL with credentials in it would be stored in the ledger and shown in reports",
                path=where,
                hint="drop them: tokens come from GITHUB_TOKEN, GITLAB_TOKEN or GITEA_TOKEN, or git's credential helper",
            )
        if len(words) == 2 and words[1].startswith("-"):
            raise GoescapeError(f"{words[1]} is no ref", path=where)
        if not _is_url(url):
            try:
                local = (path.parent / url).resolve()
                found = (local / ".git").exists()
            except OSError:
                found = False
            if not found:
                raise GoescapeError(f"{url} is neither a URL nor a local git repository", path=where)
            url = str(local)
        entries.append(Entry(url, words[1] if len(words) == 2 else None))
    if not entries:
        raise GoescapeError("the SPEC lists no repository", path=path, hint="one `URL [REF]` per line")
    return entries


def org_entries(org: str, forge: str | None, base_url: str | None) -> list[Entry]:
    """Every repository of the forge organisation or group `org` (archived ones left out), at its
    default branch. Errors: GoescapeError without `base_url`, a token, or any repository."""
    if not base_url:
        raise GoescapeError("--org needs the forge's --base-url", path=org)
    kind = forge or guess_kind(base_url)
    urls = forge_for(kind, base_url, "", os.environ.get(TOKENS[kind], "")).repositories(org)
    if not urls:
        raise GoescapeError("the organisation has no repository", path=org)
    return [Entry(u, None) for u in urls]


def names(entries: Sequence[Entry]) -> list[tuple[str, str, str | None]]:
    """(folder name, url, ref) for each entry: the URL's last two path parts, and the ref, made unique."""
    taken: set[str] = set()
    out = []
    for e in entries:
        path = urllib.parse.urlparse(e.url).path if "://" in e.url else e.url.split(":", 1)[-1]
        parts = [p for p in path.removesuffix(".git").split("/") if p][-2:]
        base = re.sub(r"[^A-Za-z0-9._-]+", "-", "-".join(parts + ([e.ref] if e.ref else []))).strip(".-") or "repo"
        name, n = base, 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        taken.add(name)
        out.append((name, e.url, e.ref))
    return out
