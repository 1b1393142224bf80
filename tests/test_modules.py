"""Repositories of several modules: a go.work workspace and a module nested in another, through
`goescape.engine.cli.main` on the real toolchain."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from goescape.engine.cli import main
from goescape.engine.toolchain import Toolchain
from tests.forge.gitea_server import GiteaServer

from .conftest import checkout_state, commit_all, git, go, without_progress, write_tree
from .reports import report_json

pytestmark = pytest.mark.usefixtures("quiet_git")


def _module(name: str, function: str, fmt: str, want: str) -> dict[str, str]:
    """A module whose one function boxes an int and a string into Sprintf; a table test reaches it."""
    return {
        f"{name}/go.mod": f"module example.com/{name}\n\ngo 1.22\n",
        f"{name}/{name}.go": f"""package {name}

import "fmt"

// {function} formats its arguments with Sprintf, which boxes both.
func {function}(n int, s string) string {{
	return fmt.Sprintf("{fmt}", s, n)
}}
""",
        f"{name}/{name}_test.go": f"""package {name}

import "testing"

func Test{function}(t *testing.T) {{
	for _, c := range []struct {{
		n    int
		s    string
		want string
	}}{{{{300, "x", "{want}"}}}} {{
		if got := {function}(c.n, c.s); got != c.want {{
			t.Fatalf("got %q, want %q", got, c.want)
		}}
	}}
}}
""",
    }


WORKSPACE = {
    **_module("a", "Label", "%s-%d", "x-300"),
    **_module("b", "Key", "%s/%d", "x/300"),
    "go.work": "go 1.22\n\nuse (\n\t./a\n\t./b\n)\n",
}


def _fix(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, object]]:
    code = main(["fix", "--json", "--codemod", "sprint", "--all-patterns", *args])
    out = capsys.readouterr().out
    return code, (report_json(out) if out.strip() else {})


def test_all_modules_fixes_each_workspace_module_in_its_own_context(
    tmp_path: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tree(tmp_path, WORKSPACE)
    # At a go.work root `./...` names no module: the error says what covers them.
    assert main(["scan", "-C", str(tmp_path), "./..."]) == 2
    assert "--all-modules" in capsys.readouterr().err

    code, report = _fix(capsys, "-C", str(tmp_path), "--all-modules", "--write")
    assert code == 0, report
    modules = {m["module"]: m for m in report["modules"]}  # type: ignore[union-attr]
    assert [(m["module"], m["folder"]) for m in report["modules"]] == [  # type: ignore[union-attr]
        ("example.com/a", "a"),
        ("example.com/b", "b"),
    ]
    for name, module in (("a", modules["example.com/a"]), ("b", modules["example.com/b"])):
        [result] = module["results"]
        assert result["result"] == "verified" and result["file"] == f"{name}/{name}.go", result
        # Built, vetted and tested in its own module, and measured by its own test.
        assert f"test example.com/{name}" in result["checks"], result
        assert result["measurement"]["by"].startswith("Test"), result
    assert "a/a.go" in report["diff"] and "b/b.go" in report["diff"]  # type: ignore[operator]
    assert 'return s + "-" + strconv.Itoa(n)' in (tmp_path / "a" / "a.go").read_text()
    assert 'return s + "/" + strconv.Itoa(n)' in (tmp_path / "b" / "b.go").read_text()
    for name in ("a", "b"):
        assert go(toolchain, "test", "./...", cwd=tmp_path / name).returncode == 0


def test_inside_a_workspace_member_dot_dot_dot_is_that_member(
    tmp_path: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tree(tmp_path, WORKSPACE)
    code, report = _fix(capsys, "-C", str(tmp_path / "b"), "--write", "./...")
    assert code == 0
    assert [(r["function"], r["result"]) for r in report["results"]] == [("Key", "verified")]  # type: ignore[union-attr]
    assert "strconv" in (tmp_path / "b" / "b.go").read_text()
    assert "fmt.Sprintf" in (tmp_path / "a" / "a.go").read_text(), "the other member is left alone"


def test_a_nested_module_is_its_own_and_all_modules_reaches_it(
    tmp_path: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _module("root", "Label", "%s-%d", "x-300")
    nested = _module("tools", "Key", "%s/%d", "x/300")
    write_tree(tmp_path, {name.removeprefix("root/"): data for name, data in root.items()})
    write_tree(tmp_path, nested)
    # `./...` at the root stops at the nested module's go.mod, as the go command does.
    code, report = _fix(capsys, "-C", str(tmp_path), "./...")
    assert code == 0
    assert [r["file"] for r in report["results"]] == ["root.go"]  # type: ignore[union-attr]
    code, report = _fix(capsys, "-C", str(tmp_path), "--all-modules")
    assert code == 0
    assert [(m["folder"], [r["file"] for r in m["results"]]) for m in report["modules"]] == [  # type: ignore[union-attr]
        (".", ["root.go"]),
        ("tools", ["tools/tools.go"]),
    ]


def test_all_modules_refuses_patterns_and_what_it_cannot_do_yet(
    tmp_path: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tree(tmp_path, WORKSPACE)
    assert main(["scan", "-C", str(tmp_path), "--all-modules", "./a/..."]) == 2
    assert "takes no patterns" in capsys.readouterr().err
    assert main(["fix", "-C", str(tmp_path), "--all-modules", "--guard"]) == 2
    err = without_progress(capsys.readouterr().err)
    assert "--guard does not work with --all-modules yet" in err and err.count("\n") == 1
    assert main(["scan", "-C", str(tmp_path / "a" / "missing"), "--all-modules"]) == 2


def test_all_modules_makes_one_pull_request_with_each_module_s_commits(
    tmp_path: Path, toolchain: Toolchain, gitea: GiteaServer, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "ws"
    write_tree(repo, WORKSPACE)
    git("init", "-q", "-b", "main", cwd=repo)
    commit_all(repo, "a workspace of two modules")
    gitea.api("POST", "/user/repos", {"name": "ws", "default_branch": "main"})
    git("remote", "add", "origin", gitea.clone_url(gitea.username, "ws", auth=False), cwd=repo)
    subprocess.run(["git", "push", "-q", gitea.clone_url(gitea.username, "ws"), "main"], cwd=repo, check=True)
    gitea.wait_for_branch(gitea.username, "ws", "main")
    before = checkout_state(repo)
    argv = [
        "fix",
        "-C",
        str(repo),
        "--all-modules",
        "--codemod",
        "sprint",
        "--all-patterns",
        "--pr",
        "--forge",
        "gitea",
    ]
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GITEA_TOKEN", gitea.token)
        assert main([*argv, "--base-url", gitea.base_url.rstrip("/")]) == 0
    err = capsys.readouterr().err
    # Built, vetted and tested in each module's folder of the branch's tree.
    assert "passed: go build ./... in a, go vet ./... in a, go test ./... in a, go build ./... in b" in err, err
    assert checkout_state(repo) == before
    commits = git("log", "--format=%s", "--name-only", "main..goescape/fix", cwd=repo)
    assert "a/a.go" in commits and "b/b.go" in commits
    for message in git("log", "--format=%H", "main..goescape/fix", cwd=repo).split():
        touched = git("show", "--format=", "--name-only", message, cwd=repo).split()
        assert len({name.split("/")[0] for name in touched}) == 1, "a commit stays within one module"
    pulls = gitea.api("GET", f"/repos/{gitea.username}/ws/pulls?state=all")
    assert len(pulls) == 1 and "Label" in pulls[0]["body"] and "Key" in pulls[0]["body"], pulls
