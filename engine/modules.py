"""The Go modules under a folder: a go.work's `use` directories and every nested go.mod.

`--all-modules` runs a command once per module, each in its own module context (its own go.mod
and go.sum, and a go.work when one covers it, as the go command would), because `./...` stops at a
nested module's boundary and at a workspace root that is no module names nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from goescape.engine.errors import GoescapeError
from goescape.engine.toolchain import Toolchain

# The go command leaves out of `./...` what starts with "." or "_", and testdata; vendor holds
# other modules' copies, never the repository's own.
_SKIPPED = ("testdata", "vendor")


@dataclass(frozen=True)
class Module:
    """One module: its root folder (holding go.mod) and the module path its go.mod declares."""

    root: Path
    path: str

    def relative(self, top: Path) -> str:
        """The root relative to `top`, "." for `top` itself (how reports name the module's folder)."""
        rel = os.path.relpath(self.root, top)
        return "." if rel == "." else rel


def _module_path(go_mod: Path) -> str:
    for line in go_mod.read_text(errors="replace").splitlines():
        words = line.split("//", 1)[0].split()
        if len(words) >= 2 and words[0] == "module":
            return words[1].strip('"`')
    return ""


def _walk(top: Path) -> Iterator[Path]:
    """Every folder below `top` (itself first) that holds a go.mod, as the go command would find them."""
    for folder, subfolders, files in os.walk(top):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith((".", "_")) and d not in _SKIPPED)
        if "go.mod" in files:
            yield Path(folder)


def _workspace(tc: Toolchain, top: Path) -> list[Path]:
    """The `use` directories of top/go.work (`go work edit -json`), or [] when there is none."""
    if not (top / "go.work").is_file():
        return []
    out = tc.run(["work", "edit", "-json", str(top / "go.work")], top)
    if out.returncode != 0:
        first = next((ln for ln in out.stderr.splitlines() if ln.strip()), "go work edit failed")
        raise GoescapeError(f"cannot read go.work: {first}", path=top / "go.work", hint="fix go.work, then run again")
    used = json.loads(out.stdout).get("Use") or []
    return [(top / u["DiskPath"]).resolve() for u in used]


def find_modules(tc: Toolchain, top: Path) -> list[Module]:
    """The modules of `top`'s go.work and every go.mod below `top`, each once, in path order.

    Errors: GoescapeError naming `top` when it holds no module at all, or go.work cannot be read.
    """
    roots = {p.resolve() for p in _walk(top)}
    roots.update(p for p in _workspace(tc, top) if (p / "go.mod").is_file())
    if not roots:
        raise GoescapeError("no go.mod here or below", path=top, hint="run goescape in a folder that holds Go modules")
    return [Module(root, _module_path(root / "go.mod")) for root in sorted(roots)]
