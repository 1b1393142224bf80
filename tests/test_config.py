"""goescape.toml: found beside go.mod, checked with one-line errors, overridden by flags; exclude globs."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from goescape.engine.config import KEYS, Config, find_config, load_config
from goescape.engine.errors import GoescapeError
from goescape.engine.globs import excluded
from goescape.engine.settings import Settings, effective, rows

GO_MOD = "module example.com/t\n\ngo 1.22\n"


def _module(root: Path, toml: str | None) -> Path:
    """A module at `root` with a package folder, and goescape.toml holding `toml` (None: no file)."""
    (root / "pkg" / "deep").mkdir(parents=True, exist_ok=True)
    (root / "go.mod").write_text(GO_MOD)
    if toml is not None:
        (root / "goescape.toml").write_text(toml)
    return root


def _command(seen: list[Settings]) -> click.Command:
    """A few of goescape's options as `fix` and `check` spell them; it records the effective settings."""

    @click.command()
    @click.argument("patterns", nargs=-1)
    @click.option("-C", "directory", type=click.Path(file_okay=False), default=".")
    @click.option("--codemod", "codemod_names", multiple=True)
    @click.option("--verify", "level", envvar="GOESCAPE_VERIFY", default="test")
    @click.option("--size-limit", type=int, default=128)
    @click.option("--allow-overcap", is_flag=True)
    @click.option("--measure/--no-measure", default=True)
    @click.option("--short", is_flag=True)
    @click.option("--profile", "profile_path", type=click.Path(dir_okay=False))
    @click.option("--min-share", type=float, default=0.0)
    @click.option("--format", "format_specs", multiple=True)
    def probe(directory: str, **_: Any) -> None:
        seen.append(effective(click.get_current_context(), load_config(Path(directory))))

    return probe


def _run(args: list[str], env: dict[str, str] | None = None) -> Settings:
    seen: list[Settings] = []
    result = CliRunner().invoke(_command(seen), args, env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return seen[0]


def test_a_flag_beats_the_file_which_beats_the_default(tmp_path: Path) -> None:
    _module(tmp_path, 'verify = "vet"\nshort = true\nmin-share = 2\n[codemod.prealloc]\nallow-overcap = true\n')
    settings = _run(["-C", str(tmp_path / "pkg"), "--verify", "build"])
    file = str(tmp_path / "goescape.toml")
    assert (settings["level"], settings.sources["level"]) == ("build", "flag --verify")
    assert (settings["short"], settings.sources["short"]) == (True, file)
    assert (settings["min_share"], settings.sources["min_share"]) == (2.0, file)
    assert isinstance(settings["min_share"], float)
    assert (settings["allow_overcap"], settings.sources["allow_overcap"]) == (True, file)
    assert (settings["size_limit"], settings.sources["size_limit"]) == (128, "default")
    assert settings.sources["directory"] == "flag -C"
    assert settings.config == tmp_path / "goescape.toml"


def test_an_environment_variable_and_an_off_switch_beat_the_file(tmp_path: Path) -> None:
    _module(tmp_path, 'verify = "vet"\nmeasure = true\n')
    settings = _run(["-C", str(tmp_path), "--no-measure", "./..."], env={"GOESCAPE_VERIFY": "build"})
    assert (settings["level"], settings.sources["level"]) == ("build", "environment GOESCAPE_VERIFY")
    assert (settings["measure"], settings.sources["measure"]) == (False, "flag --no-measure")
    assert (settings["patterns"], settings.sources["patterns"]) == (("./...",), "argument PATTERNS")


def test_without_a_file_every_value_is_the_default(tmp_path: Path) -> None:
    _module(tmp_path, None)
    settings = _run(["-C", str(tmp_path)])
    assert settings.config is None
    assert settings["level"] == "test"
    assert {src for name, src in settings.sources.items() if name != "directory"} == {"default"}


def test_paths_are_made_absolute_against_the_files_folder(tmp_path: Path) -> None:
    _module(
        tmp_path,
        'profile = "prof/cpu.pprof"\npgo = "/abs/default.pgo"\nbaseline = "b.json"\n'
        'format = ["text", "sarif=out/escapes.sarif", "json=-"]\n',
    )
    config = load_config(tmp_path / "pkg" / "deep")
    assert config.values["profile_path"] == str(tmp_path / "prof" / "cpu.pprof")
    assert config.values["pgo"] == "/abs/default.pgo"
    assert config.values["baseline"] == str(tmp_path / "b.json")
    assert config.values["format_specs"] == ("text", f"sarif={tmp_path / 'out' / 'escapes.sarif'}", "json=-")


def test_keys_the_command_has_no_flag_for_are_ignored(tmp_path: Path) -> None:
    _module(tmp_path, 'base = "merge-base:origin/main"\nexclude = ["gen/**"]\ncodemods = ["sprint", "prealloc"]\n')
    settings = _run(["-C", str(tmp_path)])
    assert "base" not in settings.values and "exclude" not in settings.values
    assert settings["codemod_names"] == ("sprint", "prealloc")
    assert load_config(tmp_path).values["base"] == "merge-base:origin/main"


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ('verify = "vet"\nshort = \n', ["not valid TOML", "line 2"]),
        ("shrot = true\n", ["'shrot'", "known keys: codemods, verify"]),
        ('short = "yes"\n', ["'short'", "expected true or false"]),
        ("size-limit = 256\n", ["'size-limit'", "known keys"]),
        ("[codemod.return-value]\nsize-limit = true\n", ["'codemod.return-value.size-limit'", "expected an integer"]),
        ("[codemod.return-value]\nsize-limit = 1.5\n", ["'codemod.return-value.size-limit'", "expected an integer"]),
        ('min-share = "1%"\n', ["'min-share'", "expected a number"]),
        ("min-share = false\n", ["'min-share'", "expected a number"]),
        ('codemods = "sprint"\n', ["'codemods'", "expected an array of strings"]),
        ("codemods = []\n", ["'codemods'", "leave it out"]),
        ('exclude = ["a", 1]\n', ["'exclude'", "expected an array of strings"]),
        ('format = ["=x.sarif"]\n', ["'format'", "NAME=PATH"]),
        ('format = ["xml=out.xml"]\n', ["'xml'", "'format'", "use one of text, json, sarif, github"]),
        ('profile = ""\n', ["'profile'", "expected a path"]),
        (
            "[codemod.prealloc]\noverecap = true\n",
            ["'overecap'", "[codemod.prealloc]", "prealloc takes: allow-overcap"],
        ),
        ("[codemod.sprint]\nfast = true\n", ["'fast'", "sprint takes no options"]),
        ('verify = "thorough"\n', ["'thorough'", "verify", "expected one of: build"]),
        ('codemods = ["sprint", "sprnit"]\n', ["'sprnit'", "'codemods'", "known codemods: return-value"]),
        ("[codemod.sprnit]\nx = 1\n", ["'sprnit'", "[codemod.sprnit]", "known codemods"]),
        ('codemod = "sprint"\n', ["'codemod'", "expected [codemod.NAME] tables"]),
        ('[codemod]\nprealloc = "on"\n', ["'codemod.prealloc'", "expected a table"]),
    ],
)
def test_a_bad_file_is_one_line_naming_the_file_and_key(tmp_path: Path, text: str, names: list[str]) -> None:
    _module(tmp_path, text)
    with pytest.raises(GoescapeError) as info:
        load_config(tmp_path / "pkg")
    line = info.value.line()
    assert info.value.path == str(tmp_path / "goescape.toml")
    assert line.startswith(f"{tmp_path / 'goescape.toml'}: ")
    assert "\n" not in line
    for name in names:
        assert name in line


def test_a_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    _module(tmp_path, None)
    (tmp_path / "goescape.toml").write_bytes(b'base = "\xff"\n')
    with pytest.raises(GoescapeError, match="not valid TOML"):
        load_config(tmp_path)


def test_find_config_walks_up_to_the_module_root_and_stops_there(tmp_path: Path) -> None:
    (tmp_path / "goescape.toml").write_text("short = true\n")  # above the module: never read
    module = _module(tmp_path / "mod", None)
    assert find_config(module / "pkg" / "deep") is None
    assert load_config(module / "pkg" / "deep") == Config(None)
    (module / "goescape.toml").write_text("short = true\n")
    assert find_config(module / "pkg" / "deep") == module / "goescape.toml"
    assert find_config(module) == module / "goescape.toml"
    # A nested module without a file of its own does not borrow its parent's.
    _module(module / "pkg", None)
    assert find_config(module / "pkg" / "deep") is None


def test_find_config_outside_any_module_is_none(tmp_path: Path) -> None:
    (tmp_path / "goescape.toml").write_text("short = true\n")
    assert find_config(tmp_path) is None


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("internal/gen/**", "internal/gen/a.go", True),
        ("internal/gen/**", "internal/gen/x/y/a.go", True),
        ("internal/gen/**", "internal/generated/a.go", False),
        ("internal/gen/**", "other/internal/gen/a.go", False),
        ("internal/gen", "internal/gen/a.go", True),
        ("internal/gen/", "internal/gen/x/a.go", True),
        ("./internal/gen", "internal/gen/a.go", True),
        ("internal/gen", "internal/genx/a.go", False),
        ("**/*_string.go", "kind_string.go", True),
        ("**/*_string.go", "a/b/kind_string.go", True),
        ("**/*_string.go", "a/b/kind_string.go.txt", False),
        ("**/*_string.go", "a/b/strings.go", False),
        ("*.go", "main.go", True),
        ("*.go", "pkg/main.go", False),
        ("pkg/*.go", "pkg/a/main.go", False),
        ("pkg/*/main.go", "pkg/a/main.go", True),
        ("pkg/*/main.go", "pkg/a/b/main.go", False),
        ("a/**/b.go", "a/b.go", True),
        ("a/**/b.go", "a/x/y/b.go", True),
        ("a/**/b.go", "ab.go", False),
        ("a/**/b.go", "a/xb.go", False),
        ("**/b.go", "ab.go", False),
        ("a?b.go", "a/b.go", False),
        ("**/testdata", "x/testdata/in.go", True),
        ("**/testdata", "x/testdatum/in.go", False),
        ("gen?.go", "gen1.go", True),
        ("gen?.go", "gen12.go", False),
        ("gen[0-9].go", "gen7.go", True),
        ("gen[!0-9].go", "gen7.go", False),
        ("gen[!0-9].go", "genx.go", True),
        ("a.go", "a_go", False),
        ("[a.go", "[a.go", True),
        ("", "a.go", False),
    ],
)
def test_exclude_globs(tmp_path: Path, pattern: str, path: str, expected: bool) -> None:
    assert excluded(tmp_path / path, tmp_path, [pattern]) is expected
    assert excluded(Path(path), tmp_path, [pattern]) is expected  # relative paths are relative to the root


def test_exclude_ignores_paths_outside_the_root_and_any_pattern_matches(tmp_path: Path) -> None:
    assert not excluded(tmp_path.parent / "other" / "a.go", tmp_path, ["**"])
    assert excluded(tmp_path / "b" / "c.go", tmp_path, ["a/**", "b"])
    assert not excluded(tmp_path / "c" / "c.go", tmp_path, ["a/**", "b"])
    assert not excluded(tmp_path / "c.go", tmp_path, [])


def test_rows_write_values_as_toml_reads_them_back(tmp_path: Path) -> None:
    _module(tmp_path, 'codemods = ["sprint"]\nmin-share = 1.5\nformat = ["sarif=a \\"b\\".sarif"]\n')
    settings = _run(["-C", str(tmp_path), "--short", "--size-limit", "64"])
    table = {key: (value, source) for key, value, source in rows(settings)}
    assert list(table) == [key for key in KEYS if KEYS[key] in settings.values]  # the file's order, and only these
    assert table["short"] == ("true", "flag --short")
    assert table["codemod.return-value.size-limit"] == ("64", "flag --size-limit")
    assert table["verify"] == ('"test"', "default")
    assert table["profile"] == ("(not set)", "default")
    unset = {key: value for key, value, _ in rows(_run(["-C", str(_module(tmp_path / "none", None))]))}
    assert unset["codemods"] == "(the defaults)", "not [], which would read as none"
    for key in ("codemods", "min-share", "format", "short", "verify", "measure"):
        assert tomllib.loads(f"x = {table[key][0]}")["x"] == _as_toml(settings[KEYS[key]]), key
    assert tomllib.loads(f"x = {table['format'][0]}")["x"] == [f'sarif={tmp_path / "a "}"b".sarif']


def _as_toml(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


def test_the_keys_name_parameters_of_the_real_fix_command() -> None:
    from goescape.engine.cli import fix_cmd

    params = {p.name for p in fix_cmd.params}
    shared = {"codemod_names", "level", "short", "measure", "profile_path", "min_share"}
    options = {"size_limit", "allow_api_change", "allow_overcap"}
    assert shared | options <= params
    assert shared | options <= set(KEYS.values())


@pytest.mark.parametrize("command", [["scan"], ["fix"], ["check"], ["config"], ["config", "check"]])
def test_a_missing_folder_is_one_line_naming_it(
    tmp_path: Path, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from goescape.engine.cli import main

    missing = tmp_path / "nope"
    assert main([*command, "-C", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err == f"goescape: {missing}: no such directory (give -C an existing folder)\n"
    assert not missing.exists()
