"""Shared fixtures: the real Go toolchain (required in CI), the --update-golden switch and real git repositories."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from goescape.engine.cli import main
from goescape.engine.errors import ToolchainMissing
from goescape.engine.toolchain import Toolchain, find_toolchain
from tests.forge.gitea_server import DEFAULT_CACHE, HERE, GiteaServer, ensure_gitea_binary, running_gitea
from tests.reports import report_json

ROOT = Path(__file__).resolve().parent.parent
GITEA_BINARY = DEFAULT_CACHE / "gitea"
BUILD_GITEA = HERE / "build_gitea.sh"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="Rewrite golden expectations from actual output.")


@pytest.fixture(scope="session", autouse=True)
def calibration_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One calibration cache for the session, outside the user's ~/.cache."""
    folder = tmp_path_factory.mktemp("goescape-cache")
    os.environ["GOESCAPE_CACHE_DIR"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture(scope="session")
def toolchain() -> Toolchain:
    """The Go toolchain; in CI its absence fails the run instead of skipping tests."""
    try:
        return find_toolchain()
    except ToolchainMissing as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Go is required in CI: {exc.line()}")
        pytest.skip(f"no Go toolchain: {exc.line()}")


PROGRESS_LINE = re.compile(r"goescape \[\d+(?:s|m\d\ds|h\d\dm)\] ")


def without_progress(stderr: str) -> str:
    """stderr without the progress lines a run longer than 2 s prints (engine/console.py's Progress):
    on a cold or busy machine they come before an error line, which stays the one line that matters."""
    return "".join(line for line in stderr.splitlines(keepends=True) if not PROGRESS_LINE.match(line))


def go(tc: Toolchain, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return tc.run(list(args), cwd)


def write_tree(root: Path, files: dict[str, str]) -> None:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(data)


def git(*args: str, cwd: Path) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return out.stdout


@pytest.fixture(scope="module")
def quiet_git() -> Iterator[None]:
    """No global or system git config: goescape's fallback identity shows, and the user's own stays out.

    A module asks for it with `pytestmark = pytest.mark.usefixtures("quiet_git")`.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
        patch.setenv("GIT_CONFIG_NOSYSTEM", "1")
        yield


def commit_all(repo: Path, message: str) -> None:
    """Commit the whole work tree, as an author given on the command line (there is no global config)."""
    git("add", "-A", cwd=repo)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message, cwd=repo)


def git_repo(root: Path, *commits: dict[str, str]) -> Path:
    """A new repository at `root` on branch main, with one commit per set of files, each written over the last."""
    root.mkdir(parents=True)
    git("init", "-q", "-b", "main", cwd=root)
    for n, files in enumerate(commits, 1):
        write_tree(root, files)
        commit_all(root, f"commit {n}")
    return root


def check_json(repo: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object], str]:
    """`goescape check -C REPO --json ARGS`: the exit status, the report ({} when none was printed) and
    stderr without its progress lines."""
    code = main(["check", "-C", str(repo), "--json", *args])
    out, err = capsys.readouterr()
    return code, (report_json(out) if out.strip().startswith("{") else {}), without_progress(err)


def checkout_state(repo: Path) -> tuple[bytes, bytes, bytes, str]:
    """What goescape must leave alone in a checkout: status (every untracked file), index, HEAD and its commit."""
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], cwd=repo, capture_output=True, check=True
    ).stdout
    return (
        status,
        (repo / ".git" / "index").read_bytes(),
        (repo / ".git" / "HEAD").read_bytes(),
        git("rev-parse", "HEAD", cwd=repo),
    )


@pytest.fixture
def examples_copy(tmp_path: Path) -> Path:
    """A fresh copy of examples/ to rewrite."""
    dest = tmp_path / "examples"
    shutil.copytree(ROOT / "examples", dest)
    return dest


@pytest.fixture(scope="session")
def gitea(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GiteaServer]:
    """A real Gitea on loopback for the session, built from the Go module proxy (tests/forge/).

    The README's test command builds it before pytest starts; when it is missing here, the build runs
    once with its own progress on the terminal (pytest's capture suspended), never silently.
    """
    binary = ensure_gitea_binary(build=False) if GITEA_BINARY.exists() else _build_gitea_loudly(request.config)
    with running_gitea(binary, tmp_path_factory.mktemp("gitea")) as server:
        yield server


def _build_gitea_loudly(config: pytest.Config) -> Path:
    capture = config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print(f"\nbuilding the test Gitea once ({BUILD_GITEA} {GITEA_BINARY.parent}, 4-8 min cold) ...", flush=True)
        subprocess.run(["bash", str(BUILD_GITEA), str(GITEA_BINARY.parent)], check=False)
    return ensure_gitea_binary(build=False)


# Modules whose tests take tens of seconds each or need the test Gitea: `python -m pytest -m "not slow"`
# leaves them out for daily work (the whole suite, CI's, runs them).
SLOW_MODULES = frozenset(
    {
        "test_golden",  # 229 golden cases, 4 to 8 s each, half of it measuring with their tests
        "test_campaign",  # many repositories, Dask workers, a Gitea
        "test_publish",  # pull requests to the test Gitea
        "test_forges",  # the test Gitea and the forges' contract servers
        "test_dogfood",  # fix over the whole examples module with measurement
        "test_cases",  # the shared cases, each measured with its own benchmark
        "test_guard",  # guards proven by failing on the code before the rewrite
        "test_measure",  # allocs/op before and after, with the code's tests
        "test_calibration",  # the codemods' benchmark pairs
        "test_platforms",  # every GOOS/GOARCH a module has files for
        "test_signals",  # SIGTERM and SIGINT sent to real fix runs mid-verification
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = getattr(item, "module", None)
        in_slow_module = module is not None and module.__name__.rpartition(".")[2] in SLOW_MODULES
        if in_slow_module or "gitea" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
