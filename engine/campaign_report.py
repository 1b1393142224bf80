"""A campaign's report: the status table, and the Markdown and HTML report with totals,
per-repository evidence and per-codemod yield, all read from the ledger."""

from __future__ import annotations

import html
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from markdown_it import MarkdownIt

from goescape.engine.console import Console, Table
from goescape.engine.ledger import Repository, Status


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(seconds))


def _short(text: str, width: int = 70) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def status_table(console: Console, repos: Sequence[Repository], interrupted: bool) -> None:
    """One row per repository: where it stands, its counts, and its pull request, branch or
    failure. `interrupted`: no coordinator runs, so "running" stages were stopped."""
    table = Table(title="campaign", title_justify="left")
    for column in ("repository", "ref", "status", "verified", "rejected", "pull request, branch or reason", "updated"):
        table.add_column(column, justify="right" if column in ("verified", "rejected") else "left")
    for r in repos:
        finished = r.status in (Status.DONE, Status.FAILED, Status.HELD)
        status = r.status.value
        if r.status is Status.DONE and not (r.verified or r.rejected):
            status = "nothing to do"
        elif r.status is Status.RUNNING and interrupted:
            status = f"interrupted ({r.stage.value}; resume runs it again)"
        elif r.status is not Status.DONE:
            status = f"{status} ({r.stage.value})" if r.status is not Status.FAILED else status
        detail = r.reason if r.status in (Status.FAILED, Status.HELD) else r.where()
        table.add_row(
            r.name,
            r.ref or "",
            status,
            str(r.verified) if finished else "",
            str(r.rejected) if finished else "",
            _short(detail),
            _when(r.updated),
        )
    console.print(table)
    counts = Counter(r.status.value for r in repos)
    console.print(", ".join(f"{n} {status}" for status, n in sorted(counts.items())), markup=False)


def _results(repo: Repository) -> list[dict[str, Any]]:
    """Each result once: the measure stage's for the codemods it re-ran, verify's for the others."""
    reports = repo.report or {}
    measured = reports.get("measure")
    out: list[dict[str, Any]] = []
    again: set[str] = set()
    if measured:
        for m in measured.get("modules", []):
            out += [r | {"module": m["folder"]} for r in m["results"]]
            again |= {r["codemod"] for r in m["results"]}
    for m in (reports.get("verify") or {}).get("modules", []):
        out += [r | {"module": m["folder"]} for r in m["results"] if r["codemod"] not in again]
    return out


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(repos: Sequence[Repository], go_versions: Sequence[str]) -> str:
    """The whole report as Markdown (GitHub's tables)."""
    verified = sum(r.verified for r in repos)
    rejected = sum(r.rejected for r in repos)
    prs = [r for r in repos if r.pr_url]
    failed = [r for r in repos if r.status is Status.FAILED]
    lines = [
        "# goescape campaign",
        "",
        f"Toolchain: {', '.join(sorted(set(go_versions))) or 'none recorded'}.",
        "",
        "| repositories | finished | failed | not finished | verified rewrites | rejected | pull requests |",
        "|---|---|---|---|---|---|---|",
        f"| {len(repos)} | {sum(r.status is Status.DONE for r in repos)} | {len(failed)} "
        f"| {sum(r.status not in (Status.DONE, Status.FAILED) for r in repos)} | {verified} | {rejected} | {len(prs)} |",
        "",
        "## Yield per codemod",
        "",
        "| codemod | proposed | verified | rejected | skipped |",
        "|---|---|---|---|---|",
    ]
    tally: dict[str, Counter[str]] = {}
    for repo in repos:
        for result in _results(repo):
            tally.setdefault(result["codemod"], Counter())[result["result"]] += 1
    for name, c in sorted(tally.items()):
        lines.append(f"| {name} | {sum(c.values())} | {c['verified']} | {c['rejected']} | {c['skipped']} |")
    if not tally:
        lines.append("| (none) | 0 | 0 | 0 | 0 |")
    lines += [
        "",
        "## Repositories",
        "",
        "| repository | URL | ref | outcome | pull request or branch |",
        "|---|---|---|---|---|",
    ]
    for repo in repos:
        outcome = repo.outcome() if repo.status is not Status.FAILED else "failed (see below)"
        lines.append(
            f"| {repo.name} | {_cell(repo.url)} | {_cell(repo.ref or '')} | {_cell(outcome)} | {_cell(repo.where())} |"
        )
    for repo in repos:
        results = _results(repo)
        found = [r for r in results if r["result"] == "verified"]
        turned_down = [r for r in results if r["result"] == "rejected"]
        if not (found or turned_down):
            continue
        lines += ["", f"### {repo.name}", "", f"Base commit `{repo.commit[:12]}`."]
        if repo.branch():
            lines[-1] += f" Branch `{repo.branch()}` in `{repo.clone}`."
        if found:
            lines += [
                "",
                "| module | place | codemod | escape removed | allocations before → after | checks |",
                "|---|---|---|---|---|---|",
            ]
            for r in found:
                removed = "; ".join(f"`{t['message']}`" for t in r.get("removed", [])) or "proof at run time"
                allocs = (r.get("measurement") or {}).get("text") or r.get("not_measured") or "not measured"
                lines.append(
                    f"| {r['module']} | `{r['file']}:{r['line']}` {_cell(r['function'])} | {r['codemod']} "
                    f"| {_cell(removed)} | {_cell(allocs)} | {', '.join(r.get('checks', []))} |"
                )
        if turned_down:
            lines += ["", "Rejected:", "", "| module | place | codemod | stage | reason |", "|---|---|---|---|---|"]
            for r in turned_down:
                lines.append(
                    f"| {r['module']} | `{r['file']}:{r['line']}` {_cell(r['function'])} | {r['codemod']} "
                    f"| {r.get('stage', '')} | {_cell(r.get('reason', ''))} |"
                )
    if failed:
        lines += ["", "## Failed", ""] + [f"- **{r.name}**: {r.reason}" for r in failed]
    return "\n".join(lines) + "\n"


def to_html(text: str) -> str:
    """The Markdown report as a standalone HTML page (markdown-it-py, CommonMark with tables)."""
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(text)
    style = (
        "body{font-family:sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem}"
        "table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}"
        "code{font-size:90%}"
    )
    title = html.escape("goescape campaign")
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{style}</style></head><body>\n{body}</body></html>\n"
    )
