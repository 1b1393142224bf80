"""`//goescape:` directives as directives.directives reads them from real files."""

from __future__ import annotations

from pathlib import Path

import pytest

from goescape.engine import directives
from goescape.engine.errors import GoescapeError

SOURCE = """package p

var sink *int

// Keep says why goescape:ignore matters in prose, which is not a directive.
func Keep(n int) {
	sink = &n {comment}
}
"""


def _file(tmp_path: Path, comment: str) -> Path:
    path = tmp_path / "p.go"
    path.write_text(SOURCE.replace("{comment}", comment))
    return path


def test_an_ignore_covers_its_statement_and_keeps_its_reason(tmp_path: Path) -> None:
    path = _file(tmp_path, "//goescape:ignore the sink is the point")
    [found] = directives.directives([path])
    assert (found.verb, found.reason, found.line, found.first, found.last) == (
        "ignore",
        "the sink is the point",
        7,
        7,
        7,
    )


@pytest.mark.parametrize("comment", ["// goescape:ignore the sink is the point", "//\tgoescape:noescape"])
def test_a_directive_spelt_with_a_space_is_an_error_not_prose(tmp_path: Path, comment: str) -> None:
    path = _file(tmp_path, comment)
    with pytest.raises(GoescapeError) as info:
        directives.directives([path])
    assert info.value.path == f"{path}:7"
    assert "space" in str(info.value) and "//goescape:ignore <reason>" in (info.value.hint or "")
