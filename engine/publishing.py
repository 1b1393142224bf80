"""Publishing: the verified rewrites as a branch of commits, pushed, with a pull request opened or updated."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

from goescape.engine.branches import create_branch, go_check
from goescape.engine.commits import CommitGroup, group_results, guard_commit
from goescape.engine.console import Console, console
from goescape.engine.forges import TOKENS, Spec, authenticated, forge_for, guess_kind, parse_remote, pull_request_body
from goescape.engine.git import current_branch, push, remote_url
from goescape.engine.proof import final_contents
from goescape.engine.proposals import Proposal
from goescape.engine.request import Publication
from goescape.engine.results import Result, Verified
from goescape.engine.session import Session


def reproduce(argv: Sequence[str]) -> str:
    """The command that reproduces these rewrites: this one, without where they were sent."""
    drop = {"--branch", "--commit-per", "--remote", "--base", "--labels", "--reviewers", "--forge", "--base-url"}
    flags = {"--pr", "--force", "--draft", "--dry-run", "--interactive", "-i", "--write"}
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in drop:
            skip = True
        elif arg.split("=", 1)[0] not in drop | flags:
            kept.append(arg)
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
    body = pull_request_body(verified, session.tc.version, go_line, command, top)
    title = f"goescape: fewer heap allocations ({len(verified)} rewrites)"
    if pub.dry_run:
        out = console()
        out.print(f"branch {pub.branch} ({len(groups)} commits)", markup=False)
        for group in groups:
            out.rule()
            out.print(group.message(), markup=False, highlight=False)
        if pub.pr:
            out.rule("pull request")
            out.print(title, markup=False)
            out.print(body, markup=False, highlight=False)
        return None
    with err.status(f"building and testing branch {pub.branch}", spinner="dots"):
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
    url = remote_url(top, pub.remote)
    host, repo = parse_remote(url)
    kind = pub.forge or guess_kind(pub.base_url or host)
    token = os.environ.get(TOKENS[kind], "")
    forge_client = forge_for(kind, pub.base_url or host, repo, token)  # refuses a missing token before pushing
    push(top, pub.remote, branch.name, url=authenticated(url, kind, token))
    spec = Spec(
        title,
        body,
        branch.name,
        pub.base or current_branch(top),
        pub.draft,
        pub.labels,
        pub.reviewers,
    )
    with err.status(f"publishing to {kind}", spinner="dots"):
        published = forge_client.publish(spec)
    verb = "opened" if published.created else "updated"
    err.print(f"{verb} pull request #{published.number} {published.url}")
    return made | {"pull_request": {"number": published.number, "url": published.url, "created": published.created}}
