"""Output formats: SARIF checked against the OASIS schema, GitHub annotations, text, atomic writes."""

from __future__ import annotations

import io
import json
import os
import urllib.parse
from pathlib import Path

import jsonschema
import pytest

from goescape.engine.destinations import Destination, emit, parse_formats
from goescape.engine.edits import Edit
from goescape.engine.errors import GoescapeError
from goescape.engine.facts import EscapeFact, Kind
from goescape.engine.findings import fix_findings, fix_of, scan_findings
from goescape.engine.formats import KIND_TEXT, Finding, Fix, Level, fingerprint, github, kind_rule, text
from goescape.engine.proposals import Proposal, Skip
from goescape.engine.results import Measurement, Rejected, Skipped, Stage, Verified
from goescape.engine.sarif import FINGERPRINT_KEY, sarif
from goescape.engine.session import classify_session, load
from goescape.engine.toolchain import Toolchain

from .conftest import write_tree

SCHEMA = json.loads((Path(__file__).parent / "fixtures" / "sarif-schema-2.1.0.json").read_text())
GO_MOD = "module example.com/t\n\ngo 1.22\n"

OLD = """package t

type user struct{ id int }

func newUser(id int) *user {
	u := user{id: id}
	return &u
}
"""
NEW = OLD.replace("\tu := user{id: id}\n\treturn &u\n", "\treturn &user{id: id}\n")


def _validator() -> jsonschema.protocols.Validator:
    # The OASIS schema declares draft-04; validate with the draft it names, not a guess.
    cls = jsonschema.validators.validator_for(SCHEMA)
    assert cls is jsonschema.Draft4Validator
    cls.check_schema(SCHEMA)
    return cls(SCHEMA)


def _apply(data: bytes, fix: Fix, path: Path) -> bytes:
    for r in sorted((r for r in fix.replacements if r.path == path), key=lambda r: -r.start):
        data = data[: r.start] + r.text + data[r.end :]
    return data


def _findings(root: Path, outside: Path) -> list[Finding]:
    old_go, new_go = root / "pkg" / "user.go", root / "pkg" / "other.go"
    old_go.parent.mkdir(parents=True)
    old_go.write_text(OLD)
    new_go.write_text('package t\n\nvar name = "é"\n')
    fix = fix_of(
        {
            old_go: (OLD.encode(), NEW.encode()),
            new_go: (new_go.read_bytes(), new_go.read_bytes().replace("é".encode(), "è".encode())),
        },
        "return the composite literal's address",
    )
    return [
        Finding("moved-to-heap", Level.ERROR, "new: u moved to heap", old_go, 6, 2, fingerprint("a"), fix=fix),
        Finding("escapes-to-heap", Level.NOTE, "n escapes to heap", old_go, 7, 9, fingerprint("b")),
        Finding("unused-ignore", Level.WARNING, "covers nothing", old_go, 3, 0, fingerprint("c"), "An ignore."),
        Finding("escapes-to-heap", Level.NOTE, "vendored", outside, 12, 4, fingerprint("d")),
    ]


def test_sarif_validates_against_the_oasis_schema(tmp_path: Path) -> None:
    root, outside = tmp_path / "my repo", tmp_path / "elsewhere" / "x.go"
    findings = _findings(root, outside)
    log = sarif(findings, root=root, tool_version="0.1.0", go_version="go1.24.0", properties={"pgo": "default.pgo"})
    validator = _validator()
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(log)]
    assert errors == []
    # The validator does reject what the schema forbids, so the empty list above means something.
    assert not validator.is_valid({**log, "version": "2.0.0"})
    broken = json.loads(json.dumps(log))
    broken["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["line"] = 6
    assert not validator.is_valid(broken)

    run = log["runs"][0]
    assert log["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json" and log["version"] == "2.1.0"
    assert run["properties"] == {"go_version": "go1.24.0", "pgo": "default.pgo"}
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == root.as_uri() + "/"
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["moved-to-heap", "escapes-to-heap", "unused-ignore"]
    assert rules[0]["shortDescription"]["text"] == KIND_TEXT[Kind.MOVED]  # a kind's sentence when none is given
    assert rules[2]["shortDescription"]["text"] == "An ignore."
    assert [r["defaultConfiguration"]["level"] for r in rules] == ["error", "note", "warning"]
    results = run["results"]
    assert [r["ruleIndex"] for r in results] == [0, 1, 2, 1]
    assert [r["partialFingerprints"][FINGERPRINT_KEY] for r in results] == [f.fingerprint for f in findings]

    inside = results[0]["locations"][0]["physicalLocation"]
    assert inside["artifactLocation"] == {"uri": "pkg/user.go", "uriBaseId": "%SRCROOT%"}
    assert inside["region"] == {"startLine": 6, "startColumn": 2}
    assert results[2]["locations"][0]["physicalLocation"]["region"] == {"startLine": 3}
    away = results[3]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert away == {"uri": outside.as_uri()} and " " not in away["uri"]
    assert urllib.parse.unquote(away["uri"]) == f"file://{outside}"

    assert "fixes" not in results[1]
    (fixed,) = results[0]["fixes"]
    assert fixed["description"]["text"] == "return the composite literal's address"
    changes = {c["artifactLocation"]["uri"]: c["replacements"] for c in fixed["artifactChanges"]}
    assert sorted(changes) == ["pkg/other.go", "pkg/user.go"]
    old = OLD.encode()
    (rep,) = changes["pkg/user.go"]
    start, length = rep["deletedRegion"]["byteOffset"], rep["deletedRegion"]["byteLength"]
    assert old[:start] + rep["insertedContent"]["text"].encode() + old[start + length :] == NEW.encode()
    accent = (root / "pkg" / "other.go").read_bytes().index("é".encode())
    assert changes["pkg/other.go"] == [
        {"deletedRegion": {"byteOffset": accent, "byteLength": 2}, "insertedContent": {"text": "è"}}
    ]


def test_a_file_root_at_slash_gets_one_trailing_slash(tmp_path: Path) -> None:
    log = sarif([], root=Path("/"), tool_version="0", go_version="go1.24.0")
    assert log["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"] == "file:///"
    assert _validator().is_valid(log)


SCAN_SOURCE = """package t

import "fmt"

type user struct{ id int }

func newUser(id int) *user {
	u := user{id: id}
	return &u
}

func twice(n int) string { return fmt.Sprint(n) + fmt.Sprint(n) }

type cents int

func (c cents) String() string { return fmt.Sprint(int(c) * 2) }

func keep[T any](v T) *T { return &v }

func keepBoth() (*int, *string) { return keep(1), keep("x") }
"""


def _scan(tmp_path: Path, toolchain: Toolchain, source: str) -> list[Finding]:
    write_tree(tmp_path, {"go.mod": GO_MOD, "t.go": source})
    session = load(toolchain, ["./..."], tmp_path)
    return scan_findings(classify_session(session, []))


def test_fingerprints_hold_when_the_escape_moves_down(tmp_path: Path, toolchain: Toolchain) -> None:
    before = _scan(tmp_path / "a", toolchain, SCAN_SOURCE)
    shifted = SCAN_SOURCE.replace('import "fmt"\n', 'import "fmt"\n\n// Five more lines.\n\n\nvar _ = 1\n')
    after = _scan(tmp_path / "b", toolchain, shifted)
    assert len(before) == len(after) > 0
    assert [f.line + 5 for f in before] == [f.line for f in after]
    assert [f.fingerprint for f in before] == [f.fingerprint for f in after]
    # Two equal escapes in one function are told apart by their rank, not by their line.
    twice = [f for f in before if "in twice" in f.message and f.message.startswith("n escapes")]
    assert len(twice) == 2 and twice[0].fingerprint != twice[1].fingerprint
    assert len({f.fingerprint for f in before}) == len(before)


def test_scan_findings_name_the_kind_and_leave_out_the_compilers_repeats(tmp_path: Path, toolchain: Toolchain) -> None:
    found = _scan(tmp_path, toolchain, SCAN_SOURCE)
    assert all(f.path == tmp_path / "t.go" and f.level is Level.NOTE for f in found)
    moved = next(f for f in found if f.rule == "moved-to-heap")
    assert moved.message == "u moved to heap in newUser: return &u (return); no known rewrite"
    assert (moved.line, moved.column, moved.rule_text) == (8, 2, KIND_TEXT[Kind.MOVED])
    assert {f.rule for f in found} == {"moved-to-heap", "escapes-to-heap"}
    # cents.String has an <autogenerated> pointer wrapper whose escapes repeat the method's, and
    # keep's escapes are printed once per instantiation at the same place.
    assert sum("int(c) * 2" in f.message for f in found) == 1
    assert len({(f.line, f.column, f.rule) for f in found}) == len(found)
    assert any(f.message.startswith("v moved to heap in keep") for f in found)
    assert [kind_rule(k) for k in Kind] == [
        "moved-to-heap",
        "escapes-to-heap",
        "func-literal-escapes",
        "leaking-param",
        "leaking-param-content",
    ]
    assert set(KIND_TEXT) == set(Kind)


def test_fingerprint_is_a_stable_digest_of_its_parts() -> None:
    digest = fingerprint("example.com/t", "newUser", "moved to heap", "u", "0")
    assert digest == "4442da7a85debfa1697840b59c52e249"
    assert fingerprint("ab", "c") != fingerprint("a", "bc")


def test_github_escapes_data_and_properties(tmp_path: Path) -> None:
    path = tmp_path / "a,b" / "c:d.go"
    findings = [
        Finding("escapes-to-heap", Level.ERROR, "100% sure\nsecond line\r", path, 4, 7, "x"),
        Finding("unused-ignore", Level.WARNING, "w", path, 9, 0, "y"),
        Finding("codemod/x", Level.NOTE, "n", tmp_path / "z.go", 1, 2, "z"),
    ]
    assert github(findings, tmp_path).splitlines() == [
        "::error file=a%2Cb/c%3Ad.go,line=4,col=7,title=goescape escapes-to-heap::100%25 sure%0Asecond line%0D",
        "::warning file=a%2Cb/c%3Ad.go,line=9,title=goescape unused-ignore::w",
        "::notice file=z.go,line=1,col=2,title=goescape codemod/x::n",
    ]


def test_text_is_one_grep_line_per_finding(tmp_path: Path) -> None:
    findings = [
        Finding("escapes-to-heap", Level.ERROR, "n escapes\nto heap", tmp_path / "p" / "t.go", 4, 7, "x"),
        Finding("unused-ignore", Level.WARNING, "w", Path("/elsewhere/u.go"), 9, 0, "y"),
    ]
    assert text(findings, tmp_path) == (
        "p/t.go:4:7: error: n escapes to heap [escapes-to-heap]\n/elsewhere/u.go:9: warning: w [unused-ignore]\n"
    )
    assert text([], tmp_path) == ""


def test_parse_formats(tmp_path: Path) -> None:
    assert parse_formats([], tmp_path) == (Destination("text", None),)
    assert parse_formats(["sarif=out/escapes.sarif", "text", "json=/abs/r.json"], tmp_path) == (
        Destination("sarif", tmp_path / "out" / "escapes.sarif"),
        Destination("text", None),
        Destination("json", Path("/abs/r.json")),
    )
    assert parse_formats(["github=-"], tmp_path) == (Destination("github", None),)
    with pytest.raises(GoescapeError) as unknown:
        parse_formats(["xml=a.xml"], tmp_path)
    assert all(name in unknown.value.line() for name in ("text", "json", "sarif", "github"))
    with pytest.raises(GoescapeError) as both:
        parse_formats(["text", "sarif"], tmp_path)
    assert "standard output" in both.value.line() and "sarif=escapes.sarif" in both.value.line()
    with pytest.raises(GoescapeError, match="no file"):
        parse_formats(["sarif="], tmp_path)
    with pytest.raises(GoescapeError, match="same file"):
        parse_formats(["sarif=r.out", f"json={tmp_path / 'r.out'}"], tmp_path)


def test_emit_writes_files_whole_and_stdout_once(tmp_path: Path) -> None:
    target = tmp_path / "reports" / "deep" / "escapes.sarif"
    out = io.StringIO()
    emit([Destination("sarif", target), Destination("text", None)], lambda fmt: f"<{fmt}>\n", out)
    assert target.read_text() == "<sarif>\n" and out.getvalue() == "<text>\n"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask

    # A second name for the old file keeps the old bytes: the new file was renamed over, not rewritten.
    link = tmp_path / "link.sarif"
    os.link(target, link)
    emit([Destination("sarif", target)], lambda fmt: "new\n")
    assert target.read_text() == "new\n" and link.read_text() == "<sarif>\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["escapes.sarif"]


def test_emit_leaves_everything_as_it_was_when_rendering_stops(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.sarif"
    first.write_text("old\n")

    def render(fmt: str) -> str:
        if fmt == "sarif":
            raise KeyboardInterrupt
        return "new\n"

    with pytest.raises(KeyboardInterrupt):
        emit([Destination("json", first), Destination("sarif", second)], render)
    assert first.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_a_write_error_names_the_file_and_leaves_no_temp(tmp_path: Path) -> None:
    folder = tmp_path / "taken.sarif"
    folder.mkdir()
    with pytest.raises(GoescapeError) as err:
        emit([Destination("sarif", folder)], lambda fmt: "{}\n")
    assert err.value.path == str(folder) and str(folder) in err.value.line()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.sarif"]
    assert list(folder.iterdir()) == []
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(GoescapeError) as under_file:
        emit([Destination("json", blocked / "r.json")], lambda fmt: "{}\n")
    assert under_file.value.path == str(blocked / "r.json")


def test_fix_of_is_the_smallest_replacement_per_file(tmp_path: Path) -> None:
    go, same = tmp_path / "user.go", tmp_path / "same.go"
    fix = fix_of({go: (OLD.encode(), NEW.encode()), same: (b"package t\n", b"package t\n")}, "why")
    (rep,) = fix.replacements
    assert fix.description == "why" and rep.path == go
    assert _apply(OLD.encode(), fix, go) == NEW.encode()
    # Only what differs: the common prefix (up to the tab) and suffix ("\n}\n") stay out.
    assert (OLD.encode()[rep.start : rep.end], rep.text) == (b"u := user{id: id}\n\treturn &u", b"return &user{id: id}")
    # An insertion and a deletion, and replacements that keep whole UTF-8 characters.
    for old, new in [(b"ab", b"aXb"), (b"aXb", b"ab"), ("é".encode(), "è".encode()), ("aé".encode(), "aè".encode())]:
        (rep,) = fix_of({go: (old, new)}, "").replacements
        assert old[: rep.start] + rep.text + old[rep.end :] == new
        rep.text.decode("utf-8")
        old[rep.start : rep.end].decode("utf-8")
    assert fix_of({go: ("aé".encode(), "aè".encode())}, "").replacements[0].start == 1


def test_fix_of_keeps_stretches_apart_in_one_file(tmp_path: Path) -> None:
    # sprint's rewrite adds an import at the top and changes a call far below: two replacements.
    go = tmp_path / "user.go"
    old = (
        OLD.replace("package t\n", 'package t\n\nimport "fmt"\n')
        + "\nfunc name(id int) string { return fmt.Sprint(id) }\n"
    )
    new = old.replace('import "fmt"', 'import "strconv"').replace("fmt.Sprint(id)", "strconv.Itoa(id)")
    fix = fix_of({go: (old.encode(), new.encode())}, "")
    assert [(old.encode()[r.start : r.end], r.text) for r in fix.replacements] == [
        (b"fmt", b"strconv"),
        (b"fmt.Sprint", b"strconv.Itoa"),
    ]
    assert _apply(old.encode(), fix, go) == new.encode()


def test_fix_findings_attach_the_verified_rewrite(tmp_path: Path) -> None:
    go = tmp_path / "user.go"
    go.write_text(OLD)
    u = EscapeFact("example.com/t", go, 6, 2, 0, Kind.MOVED, "u", "newUser", (), "moved to heap: u")

    def proposal(codemod: str, line: int) -> Proposal:
        return Proposal(
            codemod, "example.com/t", go, line, "newUser", (Edit(go, 0, 0, b""),), (u,), "return &T{} directly"
        )

    kept, measured_one = proposal("addr-literal", 6), proposal("addr-literal", 7)
    measured = Measurement("TestNewUser", "user.go:6", "newUser", 1, (1.0, 0.0))
    results = [
        Verified(kept, (u,), ("build", "escape")),
        Rejected(proposal("other", 6), Stage.BUILD, "does not build"),
        Skipped(Skip("third", go, 6, "newUser", "generated")),
        Verified(measured_one, (u,), ("build",), measurement=measured),
    ]
    asked: list[Proposal] = []

    def final(p: Proposal) -> dict[Path, tuple[bytes, bytes]]:
        asked.append(p)
        return {p.path: (p.path.read_bytes(), NEW.encode())}

    found = fix_findings(results, final)
    assert asked == [kept, measured_one]
    assert [f.rule for f in found] == ["codemod/addr-literal", "codemod/addr-literal"]
    assert found[0].message == "return &T{} directly; not measured"
    assert found[1].message.startswith("return &T{} directly; allocs in newUser 1 → 0 per run of user.go:6")
    assert (found[0].path, found[0].line, found[0].column, found[0].level) == (go, 6, 0, Level.NOTE)
    assert found[0].fingerprint != found[1].fingerprint
    assert found[0].fix is not None and _apply(OLD.encode(), found[0].fix, go) == NEW.encode()
    log = sarif(found, root=tmp_path, tool_version="0.1.0", go_version="go1.24.0")
    assert _validator().is_valid(log)
    assert log["runs"][0]["results"][0]["fixes"][0]["description"]["text"] == "return &T{} directly"
