"""A real Gitea server on 127.0.0.1, as a test fixture for the forge (pull request) feature.

Plain stdlib module (no pytest import).  Typical pytest use::

    from tests.forge.gitea_server import ensure_gitea_binary, running_gitea

    @pytest.fixture(scope="session")
    def gitea(tmp_path_factory):
        binary = ensure_gitea_binary()            # builds once into ~/.cache/goescape-test/gitea
        with running_gitea(binary, tmp_path_factory.mktemp("gitea")) as server:
            yield server

The binary is built from the Go module proxy by ``build_gitea.sh`` (same directory).
Run ``python tests/forge/gitea_server.py [BINARY]`` for a demo: it starts a server,
creates a repository over the REST API, pushes to it over HTTP with git, opens a pull
request, edits it, lists pulls, and stops the server.
"""

from __future__ import annotations

import base64
import contextlib
import getpass
import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_CACHE = Path(os.environ.get("GOESCAPE_TEST_GITEA_CACHE", Path.home() / ".cache" / "goescape-test" / "gitea"))


class GiteaError(RuntimeError):
    """The Gitea fixture could not be built, configured or started."""


def ensure_gitea_binary(cache_dir: Path = DEFAULT_CACHE, *, build: bool = True) -> Path:
    """Path of the cached gitea binary; runs build_gitea.sh if it is missing (and ``build``)."""
    binary = cache_dir / "gitea"
    if binary.exists():
        return binary
    if not build:
        raise GiteaError(f"no gitea binary at {binary}; run {HERE / 'build_gitea.sh'} {cache_dir}")
    proc = subprocess.run(
        ["bash", str(HERE / "build_gitea.sh"), str(cache_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if proc.returncode != 0 or not binary.exists():
        raise GiteaError(f"build_gitea.sh failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}")
    return binary


@dataclass
class GiteaServer:
    base_url: str  # "http://127.0.0.1:PORT/" (with trailing slash, like Gitea's ROOT_URL)
    token: str  # API token of the admin user, scope "all"
    username: str
    password: str
    email: str
    port: int
    binary: Path
    workdir: Path
    config: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def api_url(self) -> str:
        return self.base_url + "api/v1"

    def clone_url(self, owner: str, repo: str, *, auth: bool = True) -> str:
        """HTTP clone/push URL; with ``auth`` it embeds username:token."""
        if not auth:
            return f"{self.base_url}{owner}/{repo}.git"
        creds = f"{urllib.parse.quote(self.username)}:{self.token}@"
        return f"http://{creds}127.0.0.1:{self.port}/{owner}/{repo}.git"

    def api(self, method: str, path: str, body: Any = None, *, token: str | None = None) -> Any:
        """Call the REST API (``path`` relative to /api/v1); returns decoded JSON (or None)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.api_url + path, data=data, method=method)
        req.add_header("Authorization", f"token {token or self.token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise GiteaError(f"{method} {path} -> HTTP {exc.code}: {detail}") from None
        return json.loads(raw) if raw.strip() else None

    def wait_for_branch(self, owner: str, repo: str, branch: str, timeout: float = 30) -> dict[str, Any]:
        """Poll until ``branch`` is visible through the API and return it.

        Gitea processes pushes asynchronously (post-receive -> queue), so a branch that
        `git push` just created can be missing from the API for ~0.5-1 s.  (Polls the
        branch *list*: in 1.26.0, GET .../branches/{name} panics with HTTP 500 while the
        repository is still flagged empty.)
        """
        deadline = time.monotonic() + timeout
        while True:
            for item in self.api("GET", f"/repos/{owner}/{repo}/branches?limit=50") or []:
                if item["name"] == branch:
                    return dict(item)
            if time.monotonic() > deadline:
                raise GiteaError(f"branch {branch!r} of {owner}/{repo} not visible after {timeout}s")
            time.sleep(0.1)

    def cli(self, *args: str) -> str:
        """Run a gitea CLI subcommand against this server's config; returns stdout."""
        return _gitea(self.binary, self.workdir, self.config, *args)

    def rss_kib(self) -> int | None:
        """Resident memory of the server process in KiB (Linux only)."""
        if self.process is None:
            return None
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            return None
        return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _gitea_env(workdir: Path) -> dict[str, str]:
    # Gitea reads GITEA_WORK_DIR / GITEA_CUSTOM / GITEA__section__KEY from the environment;
    # drop any inherited ones so only our app.ini counts.  HOME is private, so neither the
    # server's git nor the CLI touches the user's ~/.gitconfig.
    # git's own variables go too: a test's GIT_CONFIG_GLOBAL=/dev/null would have Gitea's
    # `git config --global` rename its lock file over /dev/null, replacing the device.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITEA", "GIT_"))}
    env["HOME"] = str(workdir / "home")
    env["USER"] = getpass.getuser()
    return env


def _gitea(binary: Path, workdir: Path, config: Path, *args: str) -> str:
    cmd = [str(binary), "--work-path", str(workdir), "--config", str(config), *args]
    proc = subprocess.run(cmd, cwd=workdir, env=_gitea_env(workdir), capture_output=True, text=True)
    if proc.returncode != 0:
        raise GiteaError(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def _b64secret(nbytes: int = 32) -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(nbytes)).rstrip(b"=").decode()


def write_app_ini(workdir: Path, port: int) -> Path:
    """A minimal, offline, loopback-only app.ini.  Returns its path."""
    workdir = workdir.resolve()
    for sub in ("custom/conf", "data", "repos", "log", "home"):
        (workdir / sub).mkdir(parents=True, exist_ok=True)
    root_url = f"http://127.0.0.1:{port}/"
    root_line = "I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true\n" if os.geteuid() == 0 else ""
    ini = f"""\
APP_NAME = goescape test forge
RUN_MODE = prod
RUN_USER = {getpass.getuser()}
WORK_PATH = {workdir}
{root_line}
[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = {port}
DOMAIN = 127.0.0.1
ROOT_URL = {root_url}
LOCAL_ROOT_URL = {root_url}
APP_DATA_PATH = {workdir / "data"}
DISABLE_SSH = true
START_SSH_SERVER = false
OFFLINE_MODE = true
LFS_START_SERVER = false
GRACEFUL_HAMMER_TIME = 3s

[database]
DB_TYPE = sqlite3
PATH = {workdir / "data" / "gitea.db"}
SQLITE_JOURNAL_MODE = WAL

[repository]
ROOT = {workdir / "repos"}
DEFAULT_BRANCH = main

[lfs]
PATH = {workdir / "data" / "lfs"}

[security]
INSTALL_LOCK = true
SECRET_KEY = {_b64secret()}
INTERNAL_TOKEN = {_b64secret(48)}
PASSWORD_HASH_ALGO = pbkdf2_hi
MIN_PASSWORD_LENGTH = 8
PASSWORD_COMPLEXITY = off

[oauth2]
ENABLED = false

[service]
DISABLE_REGISTRATION = true
REQUIRE_SIGNIN_VIEW = false
ENABLE_NOTIFY_MAIL = false
DEFAULT_KEEP_EMAIL_PRIVATE = true

[mailer]
ENABLED = false

[session]
PROVIDER = memory

[cache]
ADAPTER = memory

[queue]
TYPE = level
DATADIR = {workdir / "data" / "queues"}

[indexer]
ISSUE_INDEXER_TYPE = db
REPO_INDEXER_ENABLED = false

[packages]
ENABLED = false

[actions]
ENABLED = false

[migrations]
ALLOW_LOCALNETWORKS = true

[webhook]
ALLOWED_HOST_LIST = loopback

[cron]
ENABLED = false
RUN_AT_START = false

[cron.update_checker]
ENABLED = false

[log]
MODE = console
LEVEL = Warn
ROOT_PATH = {workdir / "log"}
"""
    config = workdir / "custom" / "conf" / "app.ini"
    config.write_text(ini)
    return config


def _wait_for_version(base_url: str, proc: subprocess.Popen[bytes], log_path: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise GiteaError(f"gitea web exited with {proc.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(base_url + "api/v1/version", timeout=2) as resp:
                return str(json.loads(resp.read())["version"])
        except (urllib.error.URLError, ConnectionError, OSError, ValueError) as exc:
            last = str(exc)
        time.sleep(0.1)
    raise GiteaError(
        f"gitea did not answer /api/v1/version within {timeout}s ({last}):\n{log_path.read_text()[-4000:]}"
    )


def _stop(proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


@contextlib.contextmanager
def running_gitea(
    binary: Path,
    workdir: Path,
    *,
    username: str = "goescape",
    password: str = "goescape-pw-1",
    email: str = "goescape@example.invalid",
    start_timeout: float = 60,
) -> Iterator[GiteaServer]:
    """Configure a fresh Gitea in ``workdir``, start it on 127.0.0.1, yield it, stop it.

    ``workdir`` should be empty (a tmp dir); the sqlite database, repositories and logs live
    there.  The admin user ``username`` gets an API token with scope ``all``.
    """
    binary = Path(binary).resolve()
    workdir = Path(workdir).resolve()
    if not binary.exists():
        raise GiteaError(f"gitea binary not found: {binary}")
    port = _free_port()
    config = write_app_ini(workdir, port)

    _gitea(binary, workdir, config, "migrate")
    _gitea(
        binary, workdir, config,
        "admin", "user", "create", "--username", username, "--password", password,
        "--email", email, "--admin", "--must-change-password=false",
    )  # fmt: skip
    token = _gitea(
        binary, workdir, config,
        "admin", "user", "generate-access-token", "--username", username,
        "--token-name", "goescape-tests", "--scopes", "all", "--raw",
    ).strip().splitlines()[-1].strip()  # fmt: skip
    if not token:
        raise GiteaError("gitea admin user generate-access-token printed no token")

    log_path = workdir / "log" / "web.log"
    base_url = f"http://127.0.0.1:{port}/"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(binary), "--work-path", str(workdir), "--config", str(config), "web", "--port", str(port)],
            cwd=workdir,
            env=_gitea_env(workdir),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_version(base_url, proc, log_path, start_timeout)
        yield GiteaServer(
            base_url=base_url,
            token=token,
            username=username,
            password=password,
            email=email,
            port=port,
            binary=binary,
            workdir=workdir,
            config=config,
            log_path=log_path,
            process=proc,
        )
    finally:
        _stop(proc)


def _demo(binary: Path) -> None:
    import tempfile

    def git(*args: str, cwd: Path) -> str:
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(cwd.parent)}
        ident = ["-c", "user.name=Demo", "-c", "user.email=demo@example.invalid", "-c", "init.defaultBranch=main"]
        return subprocess.run(
            ["git", *ident, *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
        ).stdout

    with tempfile.TemporaryDirectory(prefix="forge-gitea-demo-") as tmp:
        tmp_path = Path(tmp)
        t0 = time.monotonic()
        with running_gitea(binary, tmp_path / "gitea") as srv:
            t_start = time.monotonic() - t0
            version = srv.api("GET", "/version")["version"]
            print(
                f"gitea {version} up at {srv.base_url} in {t_start:.1f}s (incl. migrate + user + token); RSS {srv.rss_kib()} KiB"
            )

            repo = srv.api("POST", "/user/repos", {"name": "demo", "private": False, "default_branch": "main"})
            print("created repo:", repo["full_name"], repo["clone_url"])

            work = tmp_path / "clone"
            work.mkdir()
            git("init", "-q", cwd=work)
            (work / "go.mod").write_text("module example.com/demo\n\ngo 1.22\n")
            git("add", ".", cwd=work)
            git("commit", "-q", "-m", "initial", cwd=work)
            git("remote", "add", "origin", srv.clone_url(srv.username, "demo"), cwd=work)
            git("push", "-q", "origin", "main", cwd=work)
            git("checkout", "-q", "-b", "goescape/fix", cwd=work)
            (work / "main.go").write_text("package main\n\nfunc main() {}\n")
            git("add", ".", cwd=work)
            git("commit", "-q", "-m", "goescape: fix things", cwd=work)
            git("push", "-q", "origin", "goescape/fix", cwd=work)
            t_push = time.monotonic()
            srv.wait_for_branch(srv.username, "demo", "main")
            srv.wait_for_branch(srv.username, "demo", "goescape/fix")
            print(f"branches visible in API {time.monotonic() - t_push:.2f}s after push")
            branches = [b["name"] for b in srv.api("GET", f"/repos/{srv.username}/demo/branches")]
            print("branches:", branches)

            pr = srv.api(
                "POST",
                f"/repos/{srv.username}/demo/pulls",
                {"title": "goescape: fix things", "body": "first body", "head": "goescape/fix", "base": "main"},
            )
            print(f"opened PR #{pr['number']}: {pr['html_url']} state={pr['state']} body={pr['body']!r}")
            pr = srv.api("PATCH", f"/repos/{srv.username}/demo/pulls/{pr['number']}", {"body": "edited body"})
            print(f"edited PR #{pr['number']}: body={pr['body']!r}")
            pulls = srv.api("GET", f"/repos/{srv.username}/demo/pulls?state=open")
            print("open pulls:", [(p["number"], p["title"], p["head"]["ref"], p["base"]["ref"]) for p in pulls])
            print(f"server RSS after demo: {srv.rss_kib()} KiB")
            t_stop = time.monotonic()
        print(f"stopped in {time.monotonic() - t_stop:.1f}s")


if __name__ == "__main__":
    import sys

    _demo(Path(sys.argv[1]) if len(sys.argv) > 1 else ensure_gitea_binary(build=False))
