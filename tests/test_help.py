"""Help and errors: every command's examples print as written, `goescape --help` shows one per command,
and an error is one line that names its cause and what to do."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from goescape.engine.cli import cli, main
from goescape.engine.toolchain import Toolchain

from .conftest import without_progress, write_tree

GO_MOD = "module example.com/t\n\ngo 1.22\n"


def _commands(group: click.Group, ctx: click.Context, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from _commands(command, ctx, (*prefix, name))


COMMANDS = list(_commands(cli, click.Context(cli)))


def _command(path: tuple[str, ...]) -> click.Command:
    command: click.Command | None = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.get_command(click.Context(command), name)
    assert command is not None
    return command


def _examples(path: tuple[str, ...]) -> list[str]:
    """The lines of the Example block of a command's docstring, as written there."""
    doc = (_command(path).help or "").splitlines()
    start = next(i for i, line in enumerate(doc) if line.strip().startswith("Example"))
    assert doc[start - 1].strip() == "\b", f"{' '.join(path)}: the Example block needs \\b above it"
    block = []
    for line in doc[start + 1 :]:
        if not line.strip():
            break
        block.append(line.strip())
    return block


def _help(args: list[str], capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert main([*args, "--help"]) == 0
    return [line.strip() for line in capsys.readouterr().out.splitlines()]


@pytest.fixture(autouse=True)
def narrow(monkeypatch: pytest.MonkeyPatch) -> None:
    """A narrow terminal: any example click reflowed would show."""
    monkeypatch.setenv("COLUMNS", "50")


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_examples_print_as_written(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    examples = _examples(path)
    for line in examples:  # each runs this command: `goescape PATH ...`, perhaps after a token
        words = line.split()
        assert tuple(words[words.index("goescape") + 1 :][: len(path)]) == path, (path, line)
    shown = _help(list(path), capsys)
    for line in examples:
        assert line in shown, (line, shown)


def test_top_level_help_has_an_example_of_each_command(capsys: pytest.CaptureFixture[str]) -> None:
    shown = _help([], capsys)
    examples = _examples(())
    assert all(line in shown for line in examples)
    for name in cli.list_commands(click.Context(cli)):
        mine = [line for line in examples if line.split()[1] == name]
        assert len(mine) == 1, (name, examples)
        # The same example as the command's own help gives (or one of its subcommands').
        theirs = [line for path in COMMANDS if path[0] == name for line in _examples(path)]
        assert mine[0] in theirs, (mine, theirs)


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = without_progress(capsys.readouterr().err).strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("goescape: ")
    return err[0]


def test_a_file_outside_any_module(
    tmp_path: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tree(tmp_path, {"p.go": "package main\n\nfunc main() {}\n"})
    monkeypatch.chdir(tmp_path)
    assert main(["fix", "p.go"]) == 2
    assert _one_error_line(capsys) == (
        "goescape: p.go: not inside a Go module (no go.mod in its folder or any folder above) "
        "(run `go mod init MODULE` there, or pass -C the module's folder)"
    )


def test_a_file_inside_a_module_names_its_package(
    tmp_path: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tree(tmp_path, {"go.mod": GO_MOD, "store/p.go": "package store\n"})
    assert main(["scan", "-C", str(tmp_path), "store/p.go"]) == 2
    line = _one_error_line(capsys)
    assert (
        line
        == "goescape: store/p.go: is a file; goescape works on packages (name its package's folder instead: ./store)"
    )


@pytest.mark.parametrize(
    ("goflags", "said"),
    [
        (
            "",  # the default, -mod=readonly, with no explicit flag
            "no required module provides package example.com/doesnotexist; "
            "add it with `go get example.com/doesnotexist`",
        ),
        (
            "-mod=mod",
            "cannot find module providing package example.com/doesnotexist: module lookup disabled by GOPROXY=off",
        ),
    ],
)
def test_a_package_no_module_provides(
    tmp_path: Path,
    toolchain: Toolchain,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    goflags: str,
    said: str,
) -> None:
    """go's message continues on a second line (`; to add it:` then the command): folded into one."""
    write_tree(tmp_path, {"go.mod": GO_MOD, "a.go": "package t\n"})
    monkeypatch.setenv("GOPROXY", "off")
    monkeypatch.setenv("GOFLAGS", goflags)
    assert main(["scan", "-C", str(tmp_path), "example.com/doesnotexist"]) == 2
    assert _one_error_line(capsys) == f"goescape: {said}"


def test_tests_that_fail_before_any_rewrite(
    examples_copy: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every rewrite rejected because the tests fail without it: exit 2, saying so once, not exit 0."""
    broken = 'package shop\n\nimport "testing"\n\nfunc TestBroken(t *testing.T) { t.Fatal("broken") }\n'
    write_tree(examples_copy, {"shop/broken_test.go": broken})
    before = (examples_copy / "shop" / "shop.go").read_bytes()
    argv = ["fix", "--write", "-C", str(examples_copy), "--codemod", "return-value", "--no-measure", "./..."]
    assert main(argv) == 2
    said = (
        "goescape: the tests of example.com/goescape-examples/shop fail before any rewrite, so no rewrite could "
        "be verified; fix them, or use --verify vet to check rewrites without tests (--- FAIL: TestBroken ("
    )
    # The error is the last line on stderr: on a slow machine progress lines may come before it.
    lines = capsys.readouterr().err.strip().splitlines()
    line = lines[-1]
    assert sum("before any rewrite" in ln for ln in lines) == 1, lines
    assert line.startswith(said) and re.fullmatch(r"[\d.]+s\)\)", line.removeprefix(said)), line
    assert (examples_copy / "shop" / "shop.go").read_bytes() == before
    # With --verify vet the same run goes on: the tests are not asked.
    assert main([*argv[:-1], "--verify", "vet", "./..."]) == 0
    assert (examples_copy / "shop" / "shop.go").read_bytes() != before
