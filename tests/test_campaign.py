"""Campaigns over several repositories: the SPEC, the ledger, local workers and a Dask
LocalCluster, with the real toolchain, real git repositories and the real Gitea on loopback."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from goescape.engine.campaign_settings import Settings
from goescape.engine.campaign_spec import Entry, names, read_spec
from goescape.engine.cli import main
from goescape.engine.coordinator import Coordinator
from goescape.engine.errors import GoescapeError
from goescape.engine.ledger import Ledger, Stage, Status
from goescape.engine.pools import local_pool
from tests.forge.gitea_server import GiteaServer

from .conftest import git, git_repo, without_progress
from .reports import schema_errors
from .test_modules import WORKSPACE

pytestmark = pytest.mark.usefixtures("quiet_git")

BROKEN = {"go.mod": "module example.com/broken\n\ngo 1.22\n", "b.go": "package b\n\nfunc F() int { return nope }\n"}
CLEAN = {
    "go.mod": "module example.com/clean\n\ngo 1.22\n",
    "c.go": "package c\n\nfunc Add(a, b int) int { return a + b }\n",
}
# prealloc is proven only at run time: verify (no figures) leaves it unproven, measure proves it.
GROW = {
    "go.mod": "module example.com/grow\n\ngo 1.22\n",
    "grow.go": """package grow

// Names lists the names; the slice grows by doubling as it goes.
func Names(items []string) []string {
	names := []string{}
	for _, it := range items {
		names = append(names, it+"!")
	}
	return names
}
""",
    "grow_test.go": """package grow

import "testing"

func TestNames(t *testing.T) {
	in := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i"}
	if got := Names(in); len(got) != len(in) || got[8] != "i!" {
		t.Fatalf("Names = %q", got)
	}
}
""",
}
# sprint's patterns are calibrated to save nothing on go1.26 for some arguments: --all-patterns tries them.
FIX = ["--codemod", "sprint", "--all-patterns"]


def _gocache() -> str:
    """The go command's own build cache, warm from the rest of the suite, for campaigns that share it."""
    return subprocess.run(["go", "env", "GOCACHE"], capture_output=True, text=True, check=True).stdout.strip()


def _spec(tmp_path: Path, *lines: str) -> tuple[Path, Path]:
    """A SPEC of these lines in tmp_path, and the campaign folder beside it."""
    spec = tmp_path / "repos.txt"
    spec.write_text("".join(f"{line}\n" for line in lines))
    return spec, tmp_path / "c"


def _campaign(*args: str) -> int:
    return main(["campaign", *args])


def _ledger(folder: Path) -> dict[str, tuple[str, int, int, str, str]]:
    ledger = Ledger(folder)
    try:
        repositories = ledger.repositories()
        for r in repositories:  # the workers' `goescape fix --json` reports, one per stage, as every report
            for stage, report in (r.report or {}).items():
                if isinstance(report, dict) and report.get("command") == "fix":
                    assert not schema_errors(report), (r.name, stage, schema_errors(report))
        return {r.name: (r.status.value, r.verified, r.rejected, r.reason, r.pr_url) for r in repositories}
    finally:
        ledger.close()


def _tasks(folder: Path) -> list[dict[str, object]]:
    ledger = Ledger(folder)
    try:
        return ledger.tasks()
    finally:
        ledger.close()


@pytest.fixture(scope="module")
def local_repos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three repositories: a go.work of two modules, one whose build fails, one with nothing to do."""
    top = tmp_path_factory.mktemp("repos", numbered=False)
    git_repo(top / "ws", WORKSPACE)
    git_repo(top / "broken", BROKEN)
    git_repo(top / "clean", CLEAN)
    git_repo(top / "grow", GROW)
    return top


# --- The SPEC ------------------------------------------------------------------------------


def test_spec_lines_comments_refs_and_local_paths(tmp_path: Path, local_repos: Path) -> None:
    spec = tmp_path / "repos.txt"
    spec.write_text(
        "# the fleet\n"
        "https://gitea.example.com/platform/api.git   v1.2.0  # a tag\n"
        "\n"
        "git@github.com:acme/tools.git\n"
        "ssh://git@git.example.com/acme/ops.git  # a user name is no secret\n"
        f"{os.path.relpath(local_repos / 'ws', tmp_path)}\n"
        "https://gitlab.example.com/group/sub/api\n"
    )
    entries = read_spec(spec)
    assert entries == [
        Entry("https://gitea.example.com/platform/api.git", "v1.2.0"),
        Entry("git@github.com:acme/tools.git", None),
        Entry("ssh://git@git.example.com/acme/ops.git", None),
        Entry(str(local_repos / "ws"), None),
        Entry("https://gitlab.example.com/group/sub/api", None),
    ]
    assert [n for n, _, _ in names(entries)] == ["platform-api-v1.2.0", "acme-tools", "acme-ops", "repos-ws", "sub-api"]
    # The same repository twice gets two folders.
    assert [n for n, _, _ in names([Entry("https://h/o/r", None)] * 2)] == ["o-r", "o-r-2"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("https://h/o/r main extra\n", "repos.txt:1: expected `URL [REF]`, found 3 words"),
        ("# nothing\n\n", "the SPEC lists no repository"),
        ("https://h/o/r\n./not-here\n", "repos.txt:2: ./not-here is neither a URL nor a local git repository"),
        ("https://me:secret@h/o/r\n", "repos.txt:1: a URL with credentials in it would be stored in the ledger"),
        ("https://h/o/r --upload-pack=touch\n", "repos.txt:1: --upload-pack=touch is no ref"),
        ("\xff\xfe not text\n", "repos.txt: cannot read the SPEC: not UTF-8 text"),
    ],
)
def test_a_bad_spec_names_its_line(tmp_path: Path, text: str, message: str) -> None:
    spec = tmp_path / "repos.txt"
    spec.write_bytes(text.encode("latin-1") if "\xff" in text else text.encode())
    with pytest.raises(GoescapeError) as caught:
        read_spec(spec)
    assert message in caught.value.line()


def test_run_refuses_an_existing_campaign_and_resume_needs_one(
    tmp_path: Path, local_repos: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec, folder = _spec(tmp_path, str(local_repos / "clean"))
    assert _campaign("resume", "--dir", str(folder)) == 2
    assert "no campaign here" in capsys.readouterr().err
    assert _campaign("run", str(spec), "--dir", str(folder)) == 0
    assert _ledger(folder) == {"repos-clean": ("done", 0, 0, "", "")}
    assert _campaign("run", str(spec), "--dir", str(folder)) == 2
    assert "already holds a campaign" in capsys.readouterr().err
    assert _campaign("run", str(spec), "--dir", str(folder), "--fresh", "--scheduler", "tcp://127.0.0.1:1") == 2
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err


def test_scheduler_without_dask_says_what_to_install(tmp_path: Path, local_repos: Path) -> None:
    spec = tmp_path / "repos.txt"
    spec.write_text(f"{local_repos / 'clean'}\n")
    hide = "import sys; sys.modules['distributed'] = None; from goescape.engine.cli import main; sys.exit(main())"
    argv = ["campaign", "run", str(spec), "--dir", str(tmp_path / "c"), "--scheduler", "tcp://127.0.0.1:1"]
    out = subprocess.run([sys.executable, "-c", hide, *argv], capture_output=True, text=True, check=False)
    assert out.returncode == 2
    assert without_progress(out.stderr).strip().splitlines() == [
        "goescape: tcp://127.0.0.1:1: --scheduler needs dask.distributed (pip install 'goescape[distributed]')"
    ], out.stderr


def test_a_rewrite_proven_only_at_run_time_is_measured_and_reported(
    tmp_path: Path, local_repos: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec, folder = _spec(tmp_path, str(local_repos / "grow"))
    gocache = _gocache()
    argv = ["run", str(spec), "--dir", str(folder), "--codemod", "prealloc", "--all-patterns", "--gocache", gocache]
    assert _campaign(*argv) == 0
    assert _ledger(folder)["repos-grow"][:3] == ("done", 1, 0), _ledger(folder)
    assert [t["stage"] for t in _tasks(folder)] == ["verify", "measure"]
    ledger = Ledger(folder)
    repo = ledger.get("repos-grow")
    ledger.close()
    assert repo.branch() == "goescape/campaign"
    subject = git("log", "-1", "--format=%s", "goescape/campaign", cwd=Path(repo.clone))
    assert "prealloc" in subject, subject
    err = capsys.readouterr().err
    assert f"repos-grow: verified 1, rejected 0; branch goescape/campaign in {repo.clone}" in err, err
    assert _campaign("status", "--dir", str(folder)) == 0
    out = capsys.readouterr().out
    assert "branch goescape/campaign in" in out and "nothing to do" not in out, out


def test_a_refused_resume_leaves_the_running_campaign_alone(
    tmp_path: Path, local_repos: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec, folder = _spec(tmp_path, str(local_repos / "clean"))
    assert _campaign("run", str(spec), "--dir", str(folder), "--canary", "1", *FIX) == 0
    work = folder / "tmp" / "0-running"
    work.mkdir(parents=True)
    with (folder / "campaign.lock").open("wb") as lock:  # another coordinator, running
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert _campaign("resume", "--dir", str(folder)) == 2
    assert "another goescape campaign is running in this folder" in capsys.readouterr().err
    assert work.is_dir(), "its temporary files are the other coordinator's"


def test_a_foreign_database_is_not_taken_for_a_ledger(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with sqlite3.connect(tmp_path / "campaign.db") as db:
        db.execute("CREATE TABLE repositories (x INTEGER)")
    assert _campaign("status", "--dir", str(tmp_path)) == 2
    assert "campaign.db: not a campaign ledger: it holds other tables (pick another --dir)" in capsys.readouterr().err
    with sqlite3.connect(tmp_path / "campaign.db") as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master")]
    assert tables == ["repositories"], "nothing was added to it"


# --- Canary, rate limit, resume ------------------------------------------------------------


def test_canary_stops_after_n_and_resume_goes_on_repeating_nothing(
    tmp_path: Path, local_repos: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    commit = git("rev-parse", "HEAD", cwd=local_repos / "clean").strip()
    clean, broken = local_repos / "clean", local_repos / "broken"
    spec, folder = _spec(tmp_path, str(clean), str(broken), f"{clean} {commit}")
    assert _campaign("run", str(spec), "--dir", str(folder), "--canary", "1", *FIX) == 0
    err = capsys.readouterr().err
    assert "canary: look at them" in err, err
    assert [s for s, *_ in _ledger(folder).values()] == ["done", "queued", "queued"]
    assert _campaign("resume", "--dir", str(folder), "--workers", "2") == 0
    state = _ledger(folder)
    assert state["repos-broken"][0] == "failed"
    assert "verify: ./b.go:3:23: the packages do not build before any rewrite" in state["repos-broken"][3]
    assert state[f"repos-clean-{commit}"][:3] == ("done", 0, 0)
    # Each repository's verify ran once: the canary's was not repeated.
    ran = sorted(str(t["repository"]) for t in _tasks(folder))
    assert ran == ["repos-broken", "repos-clean", f"repos-clean-{commit}"]
    ledger = Ledger(folder)
    clone = Path(ledger.get(f"repos-clean-{commit}").clone)
    ledger.close()
    assert clone.parent == folder / "repos" / f"repos-clean-{commit}"
    assert git("rev-parse", "HEAD", cwd=clone).strip() == commit
    assert (clone / ".git" / "shallow").is_file()
    assert _campaign("status", "--dir", str(folder), "--json") == 0
    rows = json.loads(capsys.readouterr().out)["repositories"]
    assert [(r["name"], r["status"]) for r in rows] == [
        ("repos-clean", "done"),
        ("repos-broken", "failed"),
        (f"repos-clean-{commit}", "done"),
    ]


def test_max_prs_per_hour_holds_the_next_pull_request_until_the_hour_allows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A repository whose branch is made; its forge is a closed port on loopback.
    clone = git_repo(tmp_path / "clone", CLEAN)
    git("branch", "goescape/campaign", cwd=clone)
    url = "http://127.0.0.1:1/o/r.git"
    monkeypatch.setenv("GITEA_TOKEN", "t")
    ledger = Ledger(tmp_path)
    ledger.add([("o-r", url, None)])
    ledger.record_publication("earlier", "http://127.0.0.1:1/o/q.git", 1, "http://127.0.0.1:1/o/q/pulls/1")
    report = {"measure": {"branch": {"title": "goescape: fewer heap allocations", "body": "evidence"}}}
    ledger.update(
        "o-r", stage=Stage.PUBLISH, status=Status.QUEUED, verified=1, clone=str(clone), base="main", report=report
    )
    pool = local_pool(1)  # never used: publishing is the coordinator's own work
    try:
        coordinator = Coordinator(tmp_path, ledger, Settings(pr=True, max_prs_per_hour=1), pool, lambda _: None)
        slot = coordinator.next_slot()
        assert slot is not None and 3500 < slot - time.time() <= 3600
        coordinator.publish(ledger.get("o-r"))
        held = ledger.get("o-r")
        assert held.status is Status.HELD and held.reason.startswith("--max-prs-per-hour 1; next at ")
        # An hour later the held one goes: it pushes (and fails here, the forge being a closed port).
        with sqlite3.connect(tmp_path / "campaign.db") as db:
            db.execute("UPDATE publications SET at = at - 3600")
        assert coordinator.next_slot() is None
        coordinator.publish_held()
        failed = ledger.get("o-r")
        assert failed.status is Status.FAILED and failed.stage is Stage.PUBLISH, failed
        assert failed.reason.startswith("publish: could not push goescape/campaign to origin"), failed.reason
        assert "t@" not in failed.reason
        # resume tries a failed publish again, and nothing else.
        assert ledger.retry_failed((Stage.PUBLISH,)) == 1 and ledger.get("o-r").status is Status.QUEUED
    finally:
        pool.close()
        ledger.close()


def _stray(folder: Path) -> list[psutil.Process]:
    """Processes still working in the campaign folder (zombies, which work no more, left out)."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        with_folder = any(str(folder) in part for part in (p.info["cmdline"] or []))
        if with_folder and p.pid != os.getpid() and not _dead(p):
            found.append(p)
    return found


def test_a_killed_coordinator_resumes_repeating_nothing_and_losing_nothing(
    tmp_path: Path, gitea: GiteaServer, fleet: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITEA_TOKEN", gitea.token)
    spec, folder = _spec(tmp_path, *(f"{gitea.base_url}{fleet}/{name}.git" for name in ("clean", "ws", "broken")))
    argv = [sys.executable, "-m", "goescape.engine", "campaign", "run", str(spec), "--dir", str(folder), *FIX]
    gocache = _gocache()
    coordinator = subprocess.Popen([*argv, "--gocache", gocache, "--pr"], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # kill it while ws is being fixed, after clean finished
        time.sleep(0.2)
        if not (folder / "campaign.db").exists():
            continue
        with sqlite3.connect(folder / "campaign.db") as db:
            rows = dict(db.execute("SELECT name, status FROM repositories").fetchall())
        if rows.get("fleet-clean") == "done" and rows.get("fleet-ws") == "running":
            break
    else:
        coordinator.kill()
        pytest.fail(f"never saw ws running: {coordinator.communicate()[1].decode()}")
    coordinator.kill()
    coordinator.wait()
    # The workers and their goescape die with the coordinator.
    deadline = time.monotonic() + 30
    while _stray(folder) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _stray(folder)
    assert _campaign("resume", "--dir", str(folder)) == 0
    state = _ledger(folder)
    assert state["fleet-clean"][:3] == ("done", 0, 0)
    assert state["fleet-ws"][:3] == ("done", 2, 0) and state["fleet-ws"][4], state
    assert len(_pulls(gitea, fleet, "ws")) == 1
    assert state["fleet-broken"][0] == "failed"
    clean_runs = [t for t in _tasks(folder) if t["repository"] == "fleet-clean"]
    assert len(clean_runs) == 1, clean_runs
    assert not (folder / "tmp").exists()


def _fix_process(folder: Path, marker: str, coordinator: subprocess.Popen[str]) -> psutil.Process:
    """The `goescape fix` a worker runs for this campaign, once its command line holds `marker`."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and coordinator.poll() is None:
        for p in _stray(folder):
            if _dead(p):
                continue
            line = _cmdline(p)
            if "fix" in line and marker in line and p.name().startswith("python"):
                return p
        time.sleep(0.1)
    coordinator.kill()
    pytest.fail(f"no goescape fix with {marker}: {coordinator.communicate()[1]}")


def test_a_dead_local_worker_is_replaced_and_sigterm_stops_cleanly(tmp_path: Path, local_repos: Path) -> None:
    spec, folder = _spec(tmp_path, str(local_repos / "ws"))
    gocache = _gocache()
    argv = [sys.executable, "-m", "goescape.engine", "campaign", "run", str(spec), "--dir", str(folder)]
    coordinator = subprocess.Popen([*argv, "--gocache", gocache, *FIX], stderr=subprocess.PIPE, text=True)
    verify = _fix_process(folder, "--no-measure", coordinator)
    verify.parent().kill()  # the pool's worker process
    measure = _fix_process(folder, "--branch", coordinator)
    time.sleep(1.0)
    coordinator.send_signal(signal.SIGTERM)
    _, err = coordinator.communicate(timeout=60)
    assert coordinator.returncode == 130, err
    assert "repos-ws: a worker died; verify starts again" in err
    assert "stopped; the ledger keeps every stage that ended" in err
    deadline = time.monotonic() + 30
    while _stray(folder) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _stray(folder) and _dead(measure)
    assert not (folder / "tmp").exists()
    # The retried verify ended and is kept; the measure stage that was stopped runs on resume.
    assert [(t["stage"], t["outcome"]) for t in _tasks(folder)] == [("verify", "ok")]
    assert _campaign("resume", "--dir", str(folder)) == 0
    assert _ledger(folder)["repos-ws"][:3] == ("done", 2, 0)
    assert [t["stage"] for t in _tasks(folder)] == ["verify", "measure"]


# --- Gitea, local workers and Dask ---------------------------------------------------------


@pytest.fixture(scope="module")
def fleet(gitea: GiteaServer, local_repos: Path) -> Iterator[str]:
    """An organisation on the real Gitea holding the three repositories."""
    org = "fleet"
    gitea.api("POST", "/orgs", {"username": org})
    for name in ("ws", "broken", "clean"):
        gitea.api("POST", f"/orgs/{org}/repos", {"name": name, "default_branch": "main"})
        pushed = f"http://{gitea.username}:{gitea.token}@127.0.0.1:{gitea.port}/{org}/{name}.git"
        git("push", "-q", pushed, "main", cwd=local_repos / name)
        gitea.wait_for_branch(org, name, "main")
    yield org


def _pulls(gitea: GiteaServer, org: str, repo: str) -> list[dict[str, object]]:
    return list(gitea.api("GET", f"/repos/{org}/{repo}/pulls?state=all") or [])


def test_a_campaign_on_gitea_with_local_workers_then_on_dask_updates_the_same_pull_request(
    tmp_path: Path, gitea: GiteaServer, fleet: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITEA_TOKEN", gitea.token)
    url = lambda name: f"{gitea.base_url}{fleet}/{name}.git"  # noqa: E731
    spec = tmp_path / "repos.txt"
    spec.write_text(f"# three repositories\n{url('ws')}\n{url('broken')} main\n{url('clean')}\n")
    local = tmp_path / "local"
    assert _campaign("run", str(spec), "--dir", str(local), "--workers", "2", "--pr", *FIX) == 0
    state = _ledger(local)
    assert state["fleet-broken-main"][0] == "failed" and "do not build" in state["fleet-broken-main"][3]
    assert state["fleet-clean"][:3] == ("done", 0, 0)
    status, verified, rejected, _, pr_url = state["fleet-ws"]
    assert (status, verified, rejected) == ("done", 2, 0) and pr_url, state
    (pull,) = _pulls(gitea, fleet, "ws")
    assert pull["html_url"] == pr_url and "Label" in str(pull["body"]) and "Key" in str(pull["body"])
    assert all(not _pulls(gitea, fleet, name) for name in ("broken", "clean"))
    # Each worker had its own GOCACHE under the campaign folder.
    caches = {str(t["worker"]): str(t["gocache"]) for t in _tasks(local)}
    assert all(Path(c).parent == local / "gocache" for c in caches.values())
    assert len(caches) == 2 and len(set(caches.values())) == 2, caches

    # The report: totals, per-codemod yield, evidence and the failure's reason.
    assert _campaign("report", "--dir", str(local)) == 0
    text = (local / "report.md").read_text()
    assert "| 3 | 2 | 1 | 0 | 2 | 0 | 1 |" in text, text
    assert "| sprint | 2 | 2 | 0 | 0 |" in text, text
    assert "allocs in Label 4 → 2 per run" in text and "**fleet-broken-main**: verify:" in text
    assert "<table>" in (local / "report.html").read_text()

    # The same campaign on a Dask LocalCluster: one worker with bench=1, one without (killed mid-task).
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, resources={"bench": 1}, dashboard_address=None
    ) as cluster:
        plain = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "distributed.cli.dask_worker",
                cluster.scheduler_address,
                "--nthreads",
                "1",
                "--name",
                "plain",
                "--no-dashboard",
            ],
            stderr=subprocess.DEVNULL,
        )
        try:
            with distributed.Client(cluster) as client:
                client.wait_for_workers(2, timeout=60)
                bench_worker = next(iter(cluster.workers.values())).name
                pids = client.run(os.getpid)
            bench_pid = next(pid for address, pid in pids.items() if address != _address_of(pids, "plain", cluster))
            dask_dir = tmp_path / "dask"
            argv = [
                sys.executable,
                "-m",
                "goescape.engine",
                "campaign",
                "run",
                "--org",
                fleet,
                "--base-url",
                gitea.base_url.rstrip("/"),
                "--dir",
                str(dask_dir),
                "--scheduler",
                cluster.scheduler_address,
                "--pr",
                *FIX,
            ]
            coordinator = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
            killed = _kill_during_measure(bench_pid, coordinator)
            _, err = coordinator.communicate(timeout=600)
            assert coordinator.returncode == 0, err
        finally:
            plain.kill()
    state = _ledger(dask_dir)
    assert state["fleet-ws"][:3] == ("done", 2, 0), (state, err)
    assert state["fleet-ws"][4] == pr_url, "the rerun updated the same pull request"
    assert len(_pulls(gitea, fleet, "ws")) == 1
    measures = [t for t in _tasks(dask_dir) if t["stage"] == "measure"]
    assert measures and all(str(t["worker"]).startswith(f"{bench_worker}#") for t in measures), measures
    assert _dead(killed)

    # campaign close closes it.
    assert _campaign("close", "--dir", str(dask_dir)) == 0
    (pull,) = _pulls(gitea, fleet, "ws")
    assert pull["state"] == "closed"


def _address_of(pids: dict[str, int], name: str, cluster: object) -> str:
    """The address of the worker not started by the LocalCluster (the plain one)."""
    ours = {w.worker_address for w in cluster.workers.values()}  # type: ignore[attr-defined]
    return next(address for address in pids if address not in ours)


def _kill_during_measure(worker_pid: int, coordinator: subprocess.Popen[str]) -> psutil.Process:
    """SIGKILL the bench worker while its goescape runs the measure stage; the goescape it ran."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and coordinator.poll() is None:
        try:
            children = psutil.Process(worker_pid).children(recursive=True)
        except psutil.NoSuchProcess:
            break
        running = [c for c in children if "--branch" in " ".join(_cmdline(c))]
        if running:
            time.sleep(1.0)  # well into the stage
            os.kill(worker_pid, signal.SIGKILL)
            time.sleep(1.0)
            return running[0]
        time.sleep(0.1)
    pytest.fail("the measure stage never started on the bench worker")


def _dead(p: psutil.Process) -> bool:
    try:
        return p.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _cmdline(p: psutil.Process) -> list[str]:
    try:
        return list(p.cmdline())
    except psutil.Error:
        return []
