"""Forges: open or update goescape's pull request on GitHub, GitLab or Gitea/Forgejo.

GitHub and GitLab go through their maintained clients (PyGithub, python-gitlab); Gitea and
Forgejo through their REST API over plain HTTP, since the few calls needed do not justify a
thinly used wrapper. A hidden marker in the body lets a second run find and update its own pull
request instead of opening another.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

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


def guess_kind(host: str) -> str:
    if "github" in host:
        return "github"
    if "gitlab" in host:
        return "gitlab"
    return "gitea"


# --- Gitea and Forgejo: REST over plain HTTP ---------------------------------------------


@dataclass
class Gitea:
    base_url: str  # the server, e.g. http://127.0.0.1:3000
    repo: str  # owner/name
    token: str
    retries: int = 4
    sleep: Callable[[float], None] = time.sleep

    def _call(self, method: str, path: str, payload: object | None = None) -> Any:
        url = f"{self.base_url.rstrip('/')}/api/v1{path}"
        data = json.dumps(payload).encode() if payload is not None else None
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(url, data=data, method=method)
            request.add_header("Authorization", f"token {self.token}")
            request.add_header("Content-Type", "application/json")
            request.add_header("Accept", "application/json")
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    body = response.read()
                    return json.loads(body) if body else None
            except urllib.error.HTTPError as exc:
                text = exc.read().decode("utf-8", "replace")[:300]
                limited = exc.code == 429 or (exc.code == 403 and "rate limit" in text.lower())
                if limited and attempt < self.retries:
                    self.sleep(_retry_after(exc.headers.get("Retry-After"), attempt))
                    continue
                if exc.code in (401, 403):
                    raise ForgeError(
                        f"the token cannot {method} {path} ({exc.code}: {text.strip()})",
                        hint="GITEA_TOKEN needs the write:repository and write:issue scopes",
                    ) from exc
                raise ForgeError(f"{method} {path} failed with {exc.code}: {text.strip()}") from exc
            except urllib.error.URLError as exc:
                raise ForgeError(f"cannot reach {self.base_url}: {exc.reason}") from exc
        raise ForgeError(f"{method} {path}: still rate limited after {self.retries} retries")

    def publish(self, spec: Spec) -> PullRequest:
        mine = [
            pr
            for pr in self._call("GET", f"/repos/{self.repo}/pulls?state=open&limit=50") or []
            if MARKER in (pr.get("body") or "") and pr.get("head", {}).get("ref") == spec.head
        ]
        title = f"WIP: {spec.title}" if spec.draft else spec.title
        if mine:
            number = int(mine[0]["number"])
            pr = self._call("PATCH", f"/repos/{self.repo}/pulls/{number}", {"title": title, "body": spec.body})
            created = False
        else:
            payload = {"head": spec.head, "base": spec.base, "title": title, "body": spec.body}
            pr = self._call("POST", f"/repos/{self.repo}/pulls", payload)
            number, created = int(pr["number"]), True
        if spec.labels:
            known = {lb["name"]: lb["id"] for lb in self._call("GET", f"/repos/{self.repo}/labels") or []}
            missing = sorted(set(spec.labels) - set(known))
            if missing:
                raise ForgeError(f"no such label in {self.repo}: {', '.join(missing)}")
            self._call("PUT", f"/repos/{self.repo}/issues/{number}/labels", {"labels": [known[n] for n in spec.labels]})
        if spec.reviewers:
            self._call(
                "POST", f"/repos/{self.repo}/pulls/{number}/requested_reviewers", {"reviewers": list(spec.reviewers)}
            )
        return PullRequest(number, str(pr.get("html_url", "")), created)

    def close(self, number: int) -> bool:
        pr = self._call("GET", f"/repos/{self.repo}/pulls/{number}")
        if pr.get("state") != "open":
            return False
        self._call("PATCH", f"/repos/{self.repo}/pulls/{number}", {"state": "closed"})
        return True

    def repositories(self, org: str) -> list[str]:
        urls: list[str] = []
        for page in range(1, 1000):
            found = self._call("GET", f"/orgs/{urllib.parse.quote(org)}/repos?limit=50&page={page}") or []
            urls += [str(r["clone_url"]) for r in found if not r.get("archived")]
            if not found:  # a server may cap pages below the limit asked for: only an empty one ends
                break
        return urls


def _retry_after(header: str | None, attempt: int) -> float:
    if header and header.strip().isdigit():
        return min(float(header), 60.0)
    return min(2.0**attempt, 30.0)


# --- GitHub and GitLab: their maintained clients ----------------------------------------


@dataclass
class GitHub:
    base_url: str  # https://api.github.com, or a GitHub Enterprise /api/v3 URL
    repo: str
    token: str

    def _client(self) -> Any:
        try:
            import github
            from urllib3.util.retry import Retry
        except ImportError as exc:
            raise ForgeError("PyGithub is not installed", hint="pip install 'goescape[forges]'") from exc
        # POST too: a 429 or 503 means nothing was created, so sending it again is safe.
        retry = Retry(
            total=4,
            backoff_factor=1,
            status_forcelist=(429, 502, 503),
            allowed_methods=None,
            respect_retry_after_header=True,
        )
        return github.Github(auth=github.Auth.Token(self.token), base_url=self.base_url, retry=retry)

    def close(self, number: int) -> bool:
        import github

        try:
            pr = self._client().get_repo(self.repo).get_pull(number)
            if pr.state != "open":
                return False
            pr.edit(state="closed")
            return True
        except github.GithubException as exc:
            raise ForgeError(f"GitHub failed to close #{number} ({exc.status})") from exc

    def repositories(self, org: str) -> list[str]:
        import github

        try:
            return [r.clone_url for r in self._client().get_organization(org).get_repos() if not r.archived]
        except github.GithubException as exc:
            raise ForgeError(
                f"GitHub cannot list {org} ({exc.status})", hint="check the name and GITHUB_TOKEN"
            ) from exc

    def publish(self, spec: Spec) -> PullRequest:
        client = self._client()
        import github

        try:
            repo = client.get_repo(self.repo)
            owner = self.repo.split("/", 1)[0]
            mine = [pr for pr in repo.get_pulls(state="open", head=f"{owner}:{spec.head}") if MARKER in (pr.body or "")]
            if mine:
                pr = mine[0]
                pr.edit(title=spec.title, body=spec.body)
                created = False
            else:
                pr = repo.create_pull(
                    base=spec.base, head=spec.head, title=spec.title, body=spec.body, draft=spec.draft
                )
                created = True
            if spec.labels:
                pr.set_labels(*spec.labels)
            if spec.reviewers:
                pr.create_review_request(reviewers=list(spec.reviewers))
            return PullRequest(pr.number, pr.html_url, created)
        except github.GithubException as exc:
            if exc.status in (401, 403, 404):
                raise ForgeError(
                    f"GitHub refused ({exc.status}): {exc.data.get('message', '') if isinstance(exc.data, dict) else exc.data}",
                    hint="GITHUB_TOKEN needs contents and pull-requests write access to " + self.repo,
                ) from exc
            raise ForgeError(f"GitHub failed ({exc.status}): {exc.data}") from exc


@dataclass
class GitLab:
    base_url: str  # https://gitlab.com or a self-hosted instance
    repo: str  # group/project
    token: str

    def _client(self) -> Any:
        try:
            import gitlab
        except ImportError as exc:
            raise ForgeError("python-gitlab is not installed", hint="pip install 'goescape[forges]'") from exc
        return gitlab.Gitlab(self.base_url, private_token=self.token, retry_transient_errors=True, timeout=30)

    def close(self, number: int) -> bool:
        import gitlab

        try:
            mr = self._client().projects.get(self.repo).mergerequests.get(number)
            if mr.state != "opened":
                return False
            mr.state_event = "close"
            mr.save()
            return True
        except gitlab.exceptions.GitlabError as exc:
            raise ForgeError(f"GitLab failed to close !{number} ({exc.response_code})") from exc

    def repositories(self, org: str) -> list[str]:
        import gitlab

        try:
            group = self._client().groups.get(org)
            found = group.projects.list(include_subgroups=True, archived=False, get_all=True)
            return [str(p.http_url_to_repo) for p in found]
        except gitlab.exceptions.GitlabError as exc:
            raise ForgeError(
                f"GitLab cannot list {org} ({exc.response_code})", hint="check the group and GITLAB_TOKEN"
            ) from exc

    def publish(self, spec: Spec) -> PullRequest:
        client = self._client()
        import gitlab

        try:
            project = client.projects.get(self.repo)
            found = project.mergerequests.list(state="opened", source_branch=spec.head, get_all=True)
            mine = [mr for mr in found if MARKER in (mr.description or "")]
            title = f"Draft: {spec.title}" if spec.draft else spec.title
            if mine:
                mr = mine[0]
                mr.title, mr.description = title, spec.body
                if spec.labels:
                    mr.labels = list(spec.labels)
                mr.save()
                created = False
            else:
                payload: dict[str, Any] = {
                    "source_branch": spec.head,
                    "target_branch": spec.base,
                    "title": title,
                    "description": spec.body,
                }
                if spec.labels:
                    payload["labels"] = ",".join(spec.labels)
                if spec.reviewers:
                    users = [client.users.list(username=name, get_all=False) for name in spec.reviewers]
                    payload["reviewer_ids"] = [u[0].id for u in users if u]
                mr = project.mergerequests.create(payload)
                created = True
            return PullRequest(int(mr.iid), str(mr.web_url), created)
        except gitlab.exceptions.GitlabAuthenticationError as exc:
            raise ForgeError("GitLab refused the token (401)", hint="GITLAB_TOKEN needs the api scope") from exc
        except gitlab.exceptions.GitlabError as exc:
            if exc.response_code == 403:
                raise ForgeError(
                    f"GitLab refused (403): {exc.error_message}", hint="GITLAB_TOKEN needs Developer access"
                ) from exc
            raise ForgeError(f"GitLab failed ({exc.response_code}): {exc.error_message}") from exc


def forge_for(kind: str, base_url: str, repo: str, token: str) -> Forge:
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
