"""Forge clients: a real Gitea on loopback, and GitHub's and GitLab's documented REST contracts.

Gitea 1.26, built from the Go module proxy, runs for real (tests/forge/). GitHub and GitLab cannot
run here, so their clients (PyGithub, python-gitlab) are exercised against a loopback server that
serves the endpoints their REST documentation describes: contract tests, named as such.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

import pytest

from goescape.engine.forge_gitea import Gitea
from goescape.engine.forge_github import GitHub
from goescape.engine.forge_gitlab import GitLab
from goescape.engine.forges import MARKER, ForgeError, Spec, parse_remote
from tests.forge.gitea_server import GiteaServer


def gitea_repo(server: GiteaServer, name: str, tmp_path: Path, branch: str = "goescape/fix") -> str:
    """A Gitea repository with `main` and a `branch` one commit ahead, pushed over HTTP."""
    server.api("POST", "/user/repos", {"name": name, "default_branch": "main"})
    work = tmp_path / name
    work.mkdir()

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=work, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    (work / "a.txt").write_text("one\n")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    git("push", "-q", server.clone_url(server.username, name), "main")
    git("checkout", "-qb", branch)
    (work / "a.txt").write_text("two\n")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "two")
    git("push", "-q", server.clone_url(server.username, name), branch)
    server.wait_for_branch(server.username, name, branch)
    return f"{server.username}/{name}"


def test_gitea_opens_once_then_updates_its_own_pull_request(gitea: GiteaServer, tmp_path: Path) -> None:
    repo = gitea_repo(gitea, "twice", tmp_path)
    gitea.api("POST", f"/repos/{repo}/labels", {"name": "performance", "color": "#00aabb"})
    forge = Gitea(gitea.base_url, repo, gitea.token)
    spec = Spec("goescape: 2 allocations", f"{MARKER}\nfirst body", "goescape/fix", "main", labels=("performance",))
    first = forge.publish(spec)
    second = forge.publish(Spec(spec.title, f"{MARKER}\nsecond body", spec.head, spec.base))
    assert first.created and not second.created and first.number == second.number
    pulls = gitea.api("GET", f"/repos/{repo}/pulls?state=open")
    assert len(pulls) == 1 and pulls[0]["body"].endswith("second body")
    assert [label["name"] for label in pulls[0]["labels"]] == ["performance"]


def test_gitea_token_without_permission_is_one_clear_error(gitea: GiteaServer, tmp_path: Path) -> None:
    repo = gitea_repo(gitea, "denied", tmp_path)
    with pytest.raises(ForgeError, match="GITEA_TOKEN needs"):
        Gitea(gitea.base_url, repo, "not-a-token").publish(Spec("t", MARKER, "goescape/fix", "main"))


def test_remote_urls_name_host_and_repository() -> None:
    assert parse_remote("git@github.com:acme/shop.git") == ("https://github.com", "acme/shop")
    assert parse_remote("https://gitlab.example.com/group/sub/proj.git") == (
        "https://gitlab.example.com",
        "group/sub/proj",
    )
    assert parse_remote("http://127.0.0.1:3000/goescape/repo.git") == ("http://127.0.0.1:3000", "goescape/repo")


class Contract(BaseHTTPRequestHandler):
    """Serves the documented REST endpoints the clients use; records every request."""

    routes: ClassVar[dict[tuple[str, str], Any]] = {}
    seen: ClassVar[list[tuple[str, str, Any]]] = []
    throttle_once: ClassVar[set[tuple[str, str]]] = set()

    def _reply(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        path = urlparse(self.path).path
        self.seen.append((self.command, self.path, body))
        if (self.command, path) in self.throttle_once:
            self.throttle_once.discard((self.command, path))
            self.send_response(429)
            self.send_header("Retry-After", "1")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        handler = self.routes.get((self.command, path))
        status, payload = (
            handler(body, parse_qs(urlparse(self.path).query)) if handler else (404, {"message": "Not Found"})
        )
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = _reply

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def contract() -> Iterator[tuple[str, type[Contract]]]:
    handler = type("Handler", (Contract,), {"routes": {}, "seen": [], "throttle_once": set()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()


def test_github_contract_open_update_labels_and_retry_after(contract: tuple[str, type[Contract]]) -> None:
    base, handler = contract
    state: dict[str, Any] = {"pulls": []}
    repo_json = {"name": "shop", "full_name": "acme/shop", "owner": {"login": "acme"}, "url": f"{base}/repos/acme/shop"}

    def pull(number: int, body: str) -> dict[str, Any]:
        url = f"{base}/repos/acme/shop/pulls/{number}"
        return {
            "number": number,
            "body": body,
            "title": "t",
            "url": url,
            "html_url": f"https://github.test/acme/shop/pull/{number}",
            "issue_url": f"{base}/repos/acme/shop/issues/{number}",
        }

    def create(body: Any, _q: Any) -> tuple[int, Any]:
        state["pulls"].append(pull(len(state["pulls"]) + 1, body["body"]))
        return 201, state["pulls"][-1]

    def edit(body: Any, _q: Any) -> tuple[int, Any]:
        state["pulls"][0]["body"] = body["body"]
        return 200, state["pulls"][0]

    handler.routes.update(
        {
            ("GET", "/repos/acme/shop"): lambda _b, _q: (200, repo_json),
            ("GET", "/repos/acme/shop/pulls"): lambda _b, q: (
                200,
                state["pulls"] if q.get("head") == ["acme:goescape/fix"] else [],
            ),
            ("POST", "/repos/acme/shop/pulls"): create,
            ("PATCH", "/repos/acme/shop/pulls/1"): edit,
            ("PUT", "/repos/acme/shop/issues/1/labels"): lambda b, _q: (200, [{"name": n} for n in b]),
        }
    )
    handler.throttle_once.add(("POST", "/repos/acme/shop/pulls"))
    forge = GitHub(base, "acme/shop", "token")
    first = forge.publish(Spec("goescape", f"{MARKER}\none", "goescape/fix", "main", labels=("perf",)))
    second = forge.publish(Spec("goescape", f"{MARKER}\ntwo", "goescape/fix", "main"))
    assert first.created and not second.created and first.number == second.number == 1
    posts = [s for s in handler.seen if s[0] == "POST" and s[1].endswith("/pulls")]
    assert len(posts) == 2, "the 429 with Retry-After was retried once"
    assert state["pulls"][0]["body"].endswith("two")
    assert ("PUT", "/repos/acme/shop/issues/1/labels", ["perf"]) in handler.seen


def test_github_contract_missing_permission(contract: tuple[str, type[Contract]]) -> None:
    base, handler = contract
    handler.routes[("GET", "/repos/acme/shop")] = lambda _b, _q: (
        403,
        {"message": "Resource not accessible by integration"},
    )
    with pytest.raises(ForgeError, match="pull-requests write"):
        GitHub(base, "acme/shop", "token").publish(Spec("t", MARKER, "goescape/fix", "main"))


def test_gitlab_contract_open_then_update(contract: tuple[str, type[Contract]]) -> None:
    base, handler = contract
    state: dict[str, Any] = {"mrs": []}

    def create(body: Any, _q: Any) -> tuple[int, Any]:
        mr = {
            "iid": 1,
            "id": 11,
            "project_id": 7,
            "description": body["description"],
            "title": body["title"],
            "web_url": "https://gitlab.test/g/p/-/merge_requests/1",
        }
        state["mrs"].append(mr)
        return 201, mr

    def update(body: Any, _q: Any) -> tuple[int, Any]:
        state["mrs"][0].update(body)
        return 200, state["mrs"][0]

    handler.routes.update(
        {
            ("GET", "/api/v4/projects/g/p"): lambda _b, _q: (200, {"id": 7, "path_with_namespace": "g/p"}),
            ("GET", "/api/v4/projects/g%2Fp"): lambda _b, _q: (200, {"id": 7, "path_with_namespace": "g/p"}),
            ("GET", "/api/v4/projects/7/merge_requests"): lambda _b, q: (
                200,
                state["mrs"] if q.get("source_branch") == ["goescape/fix"] else [],
            ),
            ("POST", "/api/v4/projects/7/merge_requests"): create,
            ("PUT", "/api/v4/projects/7/merge_requests/1"): update,
        }
    )
    forge = GitLab(base, "g/p", "token")
    first = forge.publish(Spec("goescape", f"{MARKER}\none", "goescape/fix", "main", draft=True))
    second = forge.publish(Spec("goescape", f"{MARKER}\ntwo", "goescape/fix", "main"))
    assert first.created and not second.created and first.number == second.number == 1
    assert state["mrs"][0]["description"].endswith("two") and state["mrs"][0]["title"] == "goescape"


def test_github_contract_lists_an_organisation_and_closes_a_pull_request(
    contract: tuple[str, type[Contract]],
) -> None:
    base, handler = contract
    repo_json = {"name": "shop", "full_name": "acme/shop", "owner": {"login": "acme"}, "url": f"{base}/repos/acme/shop"}
    state = {"state": "open"}

    def pull(_b: Any, _q: Any) -> tuple[int, Any]:
        return 200, {"number": 1, "state": state["state"], "url": f"{base}/repos/acme/shop/pulls/1"}

    def close(body: Any, _q: Any) -> tuple[int, Any]:
        state["state"] = body["state"]
        return 200, {"number": 1, "state": state["state"]}

    listed = [
        {"name": "shop", "clone_url": "https://github.test/acme/shop.git", "archived": False},
        {"name": "old", "clone_url": "https://github.test/acme/old.git", "archived": True},
    ]
    handler.routes.update(
        {
            ("GET", "/orgs/acme"): lambda _b, _q: (200, {"login": "acme", "url": f"{base}/orgs/acme"}),
            ("GET", "/orgs/acme/repos"): lambda _b, _q: (200, listed),
            ("GET", "/repos/acme/shop"): lambda _b, _q: (200, repo_json),
            ("GET", "/repos/acme/shop/pulls/1"): pull,
            ("PATCH", "/repos/acme/shop/pulls/1"): close,
        }
    )
    forge = GitHub(base, "acme/shop", "token")
    assert forge.repositories("acme") == ["https://github.test/acme/shop.git"]
    assert forge.close(1) is True and state["state"] == "closed"
    assert forge.close(1) is False, "a closed pull request is not closed again"


def test_gitlab_contract_lists_a_group_and_closes_a_merge_request(contract: tuple[str, type[Contract]]) -> None:
    base, handler = contract
    state = {"state": "opened"}

    def mr(_b: Any, _q: Any) -> tuple[int, Any]:
        return 200, {"iid": 1, "id": 11, "project_id": 7, "state": state["state"]}

    def update(body: Any, _q: Any) -> tuple[int, Any]:
        if body.get("state_event") == "close":
            state["state"] = "closed"
        return 200, {"iid": 1, "id": 11, "project_id": 7, "state": state["state"]}

    projects = [{"id": 7, "http_url_to_repo": "https://gitlab.test/g/p.git", "archived": False}]
    handler.routes.update(
        {
            ("GET", "/api/v4/groups/g"): lambda _b, _q: (200, {"id": 5, "full_path": "g"}),
            ("GET", "/api/v4/groups/5/projects"): lambda _b, q: (
                200,
                # python-gitlab sends Python's True/False, which GitLab reads case-insensitively.
                projects if [v.lower() for v in q["include_subgroups"] + q["archived"]] == ["true", "false"] else [],
            ),
            ("GET", "/api/v4/projects/g%2Fp"): lambda _b, _q: (200, {"id": 7, "path_with_namespace": "g/p"}),
            ("GET", "/api/v4/projects/g/p"): lambda _b, _q: (200, {"id": 7, "path_with_namespace": "g/p"}),
            ("GET", "/api/v4/projects/7/merge_requests/1"): mr,
            ("PUT", "/api/v4/projects/7/merge_requests/1"): update,
        }
    )
    forge = GitLab(base, "g/p", "token")
    assert forge.repositories("g") == ["https://gitlab.test/g/p.git"]
    assert forge.close(1) is True and state["state"] == "closed"
    assert forge.close(1) is False
