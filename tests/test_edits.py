"""Edits: one place applies them, overlaps are errors, imports follow, gofmt has the last word."""

from __future__ import annotations

from pathlib import Path

import pytest

from goescape.engine.edits import Edit, apply_edits, fix_imports, gofmt, render_file
from goescape.engine.errors import EditConflict
from goescape.engine.parsing import parse_bytes
from goescape.engine.proposals import Proposal
from goescape.engine.toolchain import Toolchain

P = Path("x.go")


def test_edits_apply_from_the_end_and_overlaps_are_errors() -> None:
    data = b"abcdef"
    assert apply_edits(data, [Edit(P, 0, 1, b"A"), Edit(P, 4, 6, b"")]) == b"Abcd"
    with pytest.raises(EditConflict, match="overlap"):
        apply_edits(data, [Edit(P, 0, 3, b"x"), Edit(P, 2, 4, b"y")])
    with pytest.raises(EditConflict):
        apply_edits(data, [Edit(P, 2, 2, b"x"), Edit(P, 2, 2, b"y")])


def test_imports_are_added_to_the_std_group_and_dropped_when_unused() -> None:
    src = parse_bytes(
        P,
        b'package p\n\nimport (\n\t"fmt"\n\t"os"\n\n\t"example.com/x"\n)\n\nvar _ = os.Args\nvar _ = x.Y\n',
    )
    out = fix_imports(src, {"strconv"}, {"fmt"})
    assert (
        out == b'package p\n\nimport (\n\t"os"\n\t"strconv"\n\n\t"example.com/x"\n)\n\nvar _ = os.Args\nvar _ = x.Y\n'
    )


def test_a_used_import_stays_and_a_lone_import_becomes_one_line(toolchain: Toolchain) -> None:
    used = parse_bytes(P, b'package p\n\nimport "fmt"\n\nvar _ = fmt.Sprint\n')
    assert fix_imports(used, set(), {"fmt"}) == used.data
    lone = parse_bytes(P, b'package p\n\nimport "fmt"\n\nvar _ = 1\n')
    formatted, error = gofmt(toolchain, fix_imports(lone, {"strconv"}, {"fmt"}))
    assert (formatted, error) == (b'package p\n\nimport "strconv"\n\nvar _ = 1\n', "")


def test_render_keeps_comments_and_is_gofmt_clean(toolchain: Toolchain) -> None:
    src = parse_bytes(P, b"package p\n\n// F doubles.\nfunc F(n int) int {\n\treturn n*2 // twice\n}\n")
    node = src.root.named_descendant_for_byte_range(src.data.index(b"n*2"), src.data.index(b"n*2") + 3)
    assert node is not None
    proposal = Proposal("t", "p", P, 5, "F", (Edit.replace(src, node, "n  <<  1"),), (), "test")
    out, error = render_file(toolchain, src, [proposal])
    assert error == ""
    assert out == b"package p\n\n// F doubles.\nfunc F(n int) int {\n\treturn n << 1 // twice\n}\n"


def test_render_refuses_what_does_not_parse(toolchain: Toolchain) -> None:
    src = parse_bytes(P, b"package p\n\nfunc F() {}\n")
    proposal = Proposal("t", "p", P, 3, "F", (Edit(P, 0, 0, b"}}}"),), (), "test")
    out, error = render_file(toolchain, src, [proposal])
    assert out == src.data and error
