"""The README's codemod table, generated from the codemods' docstrings by `goescape list --markdown`."""

from __future__ import annotations

from collections.abc import Sequence

from goescape.engine.codemod import Codemod

README_START = "<!-- codemods:start (generated from the codemods' docstrings by `goescape list --markdown`) -->"
README_END = "<!-- codemods:end -->"


def codemod_markdown(codemods: Sequence[Codemod]) -> str:
    """The README's codemod table: name, default, each docstring's summary and before/after, equivalence."""
    lines = [
        README_START,
        "",
        "| codemod | default | what it rewrites | before → after | equivalence |",
        "|---|---|---|---|---|",
    ]
    for c in codemods:
        before = next((ln.split(":", 1)[1].strip() for ln in c.doc.splitlines() if ln.startswith("Before:")), "")
        after = next((ln.split(":", 1)[1].strip() for ln in c.doc.splitlines() if ln.startswith("After:")), "")
        pair = f"`{before}` → `{after}`" if before and after else ""
        differ = [f"`{p.name}` {p.differs}" for p in c.patterns.values() if p.differs]
        same = "; ".join(differ).replace("|", "\\|") if differ else "every pattern, for every input"
        lines.append(f"| `{c.name}` | {'on' if c.default_on else 'off'} | {c.summary} | {pair} | {same} |")
    lines += ["", README_END]
    return "\n".join(lines)


def replace_codemod_table(readme: str, table: str) -> str:
    head, _, rest = readme.partition(README_START)
    _, _, tail = rest.partition(README_END)
    return head + table + tail
