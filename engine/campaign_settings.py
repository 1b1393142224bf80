"""Campaign settings: how each repository is run, kept in the ledger for `resume`, and checked before any clone."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from goescape.engine.campaign_spec import _is_url
from goescape.engine.errors import GoescapeError
from goescape.engine.forges import TOKENS, guess_kind, parse_remote


@dataclass(frozen=True)
class Settings:
    """How the campaign runs each repository; kept in the ledger so `resume` runs it the same way."""

    fix_args: tuple[str, ...] = ()
    branch: str = "goescape/campaign"
    pr: bool = False
    forge: str | None = None
    base_url: str | None = None
    draft: bool = False
    labels: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()
    gocache: str | None = None
    max_prs_per_hour: int | None = None
    workers: int = 1  # local workers, as last used (resume takes it when --workers is not given)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Settings:
        tuples = {"fix_args", "labels", "reviewers"}
        fields: dict[str, Any] = {k: tuple(v) if k in tuples else v for k, v in data.items()}
        return cls(**fields)

    def forge_of(self, url: str) -> tuple[str, str, str]:
        """(kind, API base URL, owner/name) for a repository URL. Errors: GoescapeError for a local path."""
        if not _is_url(url):
            raise GoescapeError("a local path has no forge to open a pull request on", path=url)
        host, repo = parse_remote(url)
        base = self.base_url or host
        return self.forge or guess_kind(base), base, repo

    def check_forges(self, urls: Sequence[str]) -> None:
        """Refuse before any work when --pr cannot be honoured for some repository."""
        for url in urls:
            kind, _, _ = self.forge_of(url)
            if not os.environ.get(TOKENS[kind]):
                raise GoescapeError(f"no token for {kind}", path=url, hint=f"set {TOKENS[kind]}")


def _settings_that_work(codemods: tuple[str, ...], branch: str, gocache: str | None) -> None:
    """Refuse before any clone what would fail in every repository."""
    import subprocess

    from goescape.engine.codemod import load_codemods

    known = {c.name for c in load_codemods()}
    for name in codemods:
        if name not in known:
            raise GoescapeError(f"unknown codemod {name!r}", hint="goescape list shows them")
    ok = subprocess.run(["git", "check-ref-format", "--branch", branch], capture_output=True, check=False)
    if ok.returncode != 0:
        raise GoescapeError(f"{branch!r} is not a valid branch name", hint="pass another --branch")
    if gocache:
        try:
            Path(gocache).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise GoescapeError(f"cannot use it as GOCACHE: {exc.strerror}", path=gocache) from exc
