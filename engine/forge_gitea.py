"""Gitea and Forgejo: goescape's pull request through their REST API over plain HTTP."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from goescape.engine.forges import MARKER, ForgeError, PullRequest, Spec


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
