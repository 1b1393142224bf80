"""Publishing: the verified rewrites as a branch of commits, pushed, with a pull request opened or updated."""

from __future__ import annotations

import os
import shlex
import sys
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from goescape.engine.branches import branch_can_be_made, create_branch, go_check
from goescape.engine.commits import CommitGroup, group_results, guard_commit
from goescape.engine.console import Console, Progress
from goescape.engine.diffs import apply_root
from goescape.engine.forges import (
    TOKENS,
    ForgeError,
    Spec,
    authenticated,
    forge_for,
    known_kind,
    parse_remote,
    pull_request_body,
)
from goescape.engine.git import current_branch, push, remote_url, repository_top
from goescape.engine.packages import resolve_patterns
from goescape.engine.proof import final_contents
from goescape.engine.proposals import Proposal
from goescape.engine.request import FixRequest, Publication
from goescape.engine.results import Result, Verified
from goescape.engine.session import Session


@dataclass(frozen=True)
class PullRequestTarget:
    """Where a pull request goes: the remote pushed to, the forge behind it, and the branch it targets."""

    remote: str
    url: str  # the remote's URL as configured (shown only without credentials)
    forge: str  # github, gitlab or gitea
    server: str  # the forge's URL
    repo: str  # owner/name (a GitLab group path may have more parts)
    base: str

    @property
    def token_variable(self) -> str:
        return TOKENS[self.forge]


def pull_request_target(top: Path, pub: Publication) -> PullRequestTarget:
    """The remote, forge and base a pull request from the repository at `top` would use; asks
    nothing of the network. Errors: no such remote, a forge that neither the URL nor --forge names,
    a detached HEAD without --base."""
    url = remote_url(top, pub.remote)
    host, repo = parse_remote(url)
    server = (pub.base_url or host).rstrip("/")
    kind = pub.forge or known_kind(server) or known_kind(host)  # a GitHub remote with an Enterprise --base-url
    if kind is None:
        raise ForgeError(
            f"cannot tell which forge {server} (remote {pub.remote}) is", hint="pass --forge github, gitlab or gitea"
        )
    return PullRequestTarget(pub.remote, url, kind, server, repo, pub.base or current_branch(top))


def preflight(request: FixRequest) -> None:
    """Refuse, before any go command runs, a branch or pull request that publish would refuse only
    after verification: no git repository, a branch name git rejects or that exists (without
    --force), and with --pr no such remote, an unknown forge or (unless --dry-run) no token.
    Reads the repository and the environment only; creates nothing."""
    pub = request.publication
    if pub is None:
        return
    target = request.target
    folder = target.cwd if target.all_modules else resolve_patterns(target.patterns or ("./...",), target.cwd)[0]
    top = repository_top(folder)
    branch_can_be_made(top, pub.branch, force=pub.force or pub.dry_run)  # a dry run makes no branch
    if not pub.pr:
        return
    where = pull_request_target(top, pub)
    if not pub.dry_run and not os.environ.get(where.token_variable):
        raise ForgeError(
            f"no {where.token_variable} for the pull request on {where.server} (remote {where.remote})",
            hint=f"set {where.token_variable} to a token that may push and open pull requests, or preview with --dry-run",
        )


def reproduce(argv: Sequence[str], cwd: Path | None = None) -> str:
    """The command that reproduces these rewrites: this one, without where they were sent, run from
    the top of the git repository: `-C` names the folder it ran in (`cwd`, after any -C) relative to
    that top, as the pull request's and commits' paths are."""
    drop = {"--branch", "--commit-per", "--remote", "--base", "--labels", "--reviewers", "--forge", "--base-url", "-C"}
    flags = {"--pr", "--force", "--draft", "--dry-run", "--interactive", "-i", "--write"}
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in drop:
            skip = True
        elif arg.split("=", 1)[0] not in drop | flags and not (arg.startswith("-C") and len(arg) > 2):
            kept.append(arg)
    if cwd is not None and (where := os.path.relpath(cwd, apply_root(cwd))) != ".":
        kept[1:1] = ["-C", where.replace(os.sep, "/")]  # after the command's name
    return "goescape " + shlex.join(kept)


def publish(
    runs: Sequence[tuple[Session, Sequence[Result]]],
    top: Path,
    pub: Publication,
    err: Console,
    guard_files: Mapping[Path, bytes] | None = None,
) -> dict[str, object] | None:
    """One branch (and pull request) for the repository at `top`: each module's verified rewrites
    as its own commits, checked in each module's context in the branch's tree.

    Returns what was made, for the JSON report (a campaign publishes from it): the branch's name,
    commits, checks, and the pull request's title, body and URL; None when nothing was made.
    """
    verified = [r for _, results in runs for r in results if isinstance(r, Verified)]
    if not verified:
        err.print("nothing verified: no branch made")
        return None
    session = runs[0][0]
    go_line = session.packages[0].go_line
    command = pub.command
    groups: list[CommitGroup] = []
    for here, results in runs:
        mine = [r for r in results if isinstance(r, Verified)]

        def contents(
            proposals: Sequence[Proposal], here: Session = here, mine: list[Verified] = mine
        ) -> dict[Path, bytes]:
            chosen = [r for r in mine if r.proposal in proposals]
            return {path: new for path, (_, new) in final_contents(here, chosen).items()}

        if mine:
            groups += group_results(mine, contents, pub.commit_per, session.tc.version, command)
    if guard_files:
        groups.append(guard_commit(guard_files, session.tc.version, command))
    body = pull_request_body(verified, session.tc.version, go_line, command, apply_root(top))  # paths as the commits'
    title = f"goescape: fewer heap allocations ({len(verified)} rewrites)"
    if pub.dry_run:
        # Plain text, never wrapped: a Markdown table row wrapped at a console's width is broken.
        rule = "-" * 72 + "\n"
        shown = [f"branch {pub.branch} ({len(groups)} commit{'' if len(groups) == 1 else 's'})\n"]
        shown += [rule + group.message().rstrip("\n") + "\n" for group in groups]
        if pub.pr:
            shown.append(rule + _dry_run_pull_request(pull_request_target(top, pub), pub, title, body))
        sys.stdout.write("".join(shown))
        sys.stdout.flush()
        return None
    with Progress() as progress:
        progress(f"building and testing branch {pub.branch}")
        changed = [here for here, results in runs if any(isinstance(r, Verified) for r in results)]
        checks = [go_check(here.tc, here.cwd, named=len(runs) > 1) for here in changed]
        branch = create_branch(
            top, pub.branch, groups, force=pub.force, check=lambda tree: [c for check in checks for c in check(tree)]
        )
    err.print(
        f"branch {branch.name}: {len(branch.commits)} commit(s) on {branch.base[:12]}; passed: {', '.join(branch.checks)}"
    )
    made: dict[str, object] = {
        "name": branch.name,
        "base": branch.base,
        "commits": len(branch.commits),
        "checks": list(branch.checks),
        "title": title,
        "body": body,
        "pull_request": None,
    }
    if not pub.pr:
        return made
    where = pull_request_target(top, pub)
    kind, token = where.forge, os.environ.get(where.token_variable, "")
    forge_client = forge_for(kind, where.server, where.repo, token)  # refuses a missing token before pushing
    push(top, pub.remote, branch.name, url=authenticated(where.url, kind, token))
    spec = Spec(title, body, branch.name, where.base, pub.draft, pub.labels, pub.reviewers)
    with Progress() as progress:
        progress(f"publishing to {kind}")
        published = forge_client.publish(spec)
    verb = "opened" if published.created else "updated"
    err.print(f"{verb} pull request #{published.number} {published.url}")
    return made | {"pull_request": {"number": published.number, "url": published.url, "created": published.created}}


def _dry_run_pull_request(where: PullRequestTarget, pub: Publication, title: str, body: str) -> str:
    """What `--pr --dry-run` would send, and where: one `name: value` line each, then the body as is."""
    token = (
        f"{where.token_variable} is set"
        if os.environ.get(where.token_variable)
        else f"{where.token_variable} is not set (a run without --dry-run refuses)"
    )
    lines = [
        "pull request (not opened: --dry-run)",
        f"remote: {where.remote} {_without_credentials(where.url)}",
        f"forge: {where.forge} {where.server}",
        f"repository: {where.repo}",
        f"head: {pub.branch}",
        f"base: {where.base}",
        f"draft: {'yes' if pub.draft else 'no'}",
        f"labels: {', '.join(pub.labels) or 'none'}",
        f"reviewers: {', '.join(pub.reviewers) or 'none'}",
        f"token: {token}",
        f"title: {title}",
        "",
    ]
    return "\n".join(lines) + body


def _without_credentials(url: str) -> str:
    """A remote URL as it may be shown: a user and token in it (a CI's checkout) left out."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https") or "@" not in parsed.netloc:
        return url
    return urllib.parse.urlunparse(parsed._replace(netloc=parsed.netloc.rsplit("@", 1)[1]))
