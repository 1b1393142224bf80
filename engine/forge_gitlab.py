"""GitLab: goescape's merge request through python-gitlab, GitLab's maintained client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from goescape.engine.forges import MARKER, ForgeError, PullRequest, Spec


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
