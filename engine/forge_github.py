"""GitHub: goescape's pull request through PyGithub, GitHub's maintained client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from goescape.engine.forges import MARKER, ForgeError, PullRequest, Spec


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
