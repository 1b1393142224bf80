"""Forges: open or update goescape's pull request on GitHub, GitLab or Gitea/Forgejo.

GitHub and GitLab go through their maintained clients (PyGithub, python-gitlab; forge_github.py and
forge_gitlab.py); Gitea and Forgejo through their REST API over plain HTTP (forge_gitea.py), since
the few calls needed do not justify a thinly used wrapper. A hidden marker in the body lets a second
run find and update its own pull request instead of opening another.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from goescape.engine.errors import GoescapeError
from goescape.engine.results import Verified

MARKER = "<!-- goescape:pull-request -->"
TOKENS = {"github": "GITHUB_TOKEN", "gitlab": "GITLAB_TOKEN", "gitea": "GITEA_TOKEN"}


class ForgeError(GoescapeError):
    """The forge refused or failed a request."""


@dataclass(frozen=True)
class Spec:
    """What the pull request should say; `head` is the pushed branch, `base` the target branch."""

    title: str
    body: str
    head: str
    base: str
    draft: bool = False
    labels: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()


@dataclass(frozen=True)
class PullRequest:
    number: int
    url: str
    created: bool  # False when an existing goescape pull request was updated


class Forge(Protocol):
    def publish(self, spec: Spec) -> PullRequest: ...

    def close(self, number: int) -> bool:
        """Close pull request `number`; False when it was no longer open."""
        ...

    def repositories(self, org: str) -> list[str]:
        """The clone URLs (HTTPS) of the organisation's or group's repositories, archived ones left out."""
        ...


def parse_remote(url: str) -> tuple[str, str]:
    """(host URL, "owner/repo") from a git remote URL: https://h/o/r.git, git@h:o/r.git, ssh://..."""
    url = url.strip()
    if m := re.match(r"^[\w.-]+@([^:/]+):(.+?)(?:\.git)?/?$", url):
        return f"https://{m.group(1)}", m.group(2)
    parsed = urllib.parse.urlparse(url)
    if not parsed.hostname:
        raise ForgeError(f"cannot tell the forge from the remote URL {url!r}", hint="pass --base-url")
    port = f":{parsed.port}" if parsed.port else ""
    scheme = parsed.scheme if parsed.scheme in ("http", "https") else "https"
    return f"{scheme}://{parsed.hostname}{port}", parsed.path.strip("/").removesuffix(".git")


def authenticated(url: str, kind: str, token: str) -> str | None:
    """An HTTP(S) remote URL carrying the token, as each forge accepts it; None for SSH remotes."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https") or not token:
        return None
    user = {"github": "x-access-token", "gitlab": "oauth2"}.get(kind, "goescape")
    netloc = f"{user}:{urllib.parse.quote(token, safe='')}@{parsed.hostname}" + (
        f":{parsed.port}" if parsed.port else ""
    )
    return urllib.parse.urlunparse(parsed._replace(netloc=netloc))


def known_kind(host: str) -> str | None:
    """The forge a host's name says it is (github, gitlab, or gitea for Gitea, Forgejo and Codeberg); None when it does not."""
    name = host.lower()
    if "github" in name:
        return "github"
    if "gitlab" in name:
        return "gitlab"
    if any(word in name for word in ("gitea", "forgejo", "codeberg")):
        return "gitea"
    return None


def guess_kind(host: str) -> str:
    """known_kind, else gitea (a campaign's self-hosted server)."""
    return known_kind(host) or "gitea"


def forge_for(kind: str, base_url: str, repo: str, token: str) -> Forge:
    # Imported here: each forge's module imports this one for Spec, PullRequest and ForgeError.
    from goescape.engine.forge_gitea import Gitea
    from goescape.engine.forge_github import GitHub
    from goescape.engine.forge_gitlab import GitLab

    if not token:
        raise ForgeError(f"no token for {kind}", hint=f"set {TOKENS[kind]}")
    if kind == "github":
        api = "https://api.github.com" if base_url.rstrip("/") == "https://github.com" else base_url
        return GitHub(api, repo, token)
    if kind == "gitlab":
        return GitLab(base_url, repo, token)
    return Gitea(base_url, repo, token)


def pull_request_body(verified: Sequence[Verified], go_version: str, go_line: str, command: str, cwd: Path) -> str:
    """What changed and why, the evidence table, the toolchain and the command that reproduces it."""
    by_codemod: dict[str, list[Verified]] = {}
    for v in verified:
        by_codemod.setdefault(v.proposal.codemod, []).append(v)
    lines = [MARKER, f"goescape removed heap allocations in {len(verified)} places, each proven on {go_version}.", ""]
    lines += [f"- **{name}** ({len(items)}): {items[0].proposal.rationale}" for name, items in by_codemod.items()]
    lines += [
        "",
        "| file | function | escape removed | allocations before → after | checks | equivalence |",
        "|---|---|---|---|---|---|",
    ]
    for v in verified:
        p = v.proposal
        removed = "; ".join(f"`{t.message}`" for t in v.removed) or "proof at run time"
        allocs = v.allocs_text().replace("|", "\\|")
        where = os.path.relpath(p.path, cwd)
        same = p.equivalence_text().replace("|", "\\|")
        lines.append(f"| `{where}:{p.line}` | `{p.function}` | {removed} | {allocs} | {', '.join(v.checks)} | {same} |")
    lines += [
        "",
        f"Toolchain: `{go_version}`, module `go {go_line}`. Reproduce with:",
        "",
        f"    {command}",
    ]
    return "\n".join(lines) + "\n"
