"""Fixtures: one real Label Studio server per test session, and temporary project roots."""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from support import Api

from builder.core.config import EMAIL_KEY, PASSWORD_KEY, TOKEN_KEY, Settings, redact_url
from builder.labelstudio import server

REPO_ROOT = Path(__file__).resolve().parents[1]
# Fixed on purpose: the template is built once and shared by every session on this machine.
TEMPLATE_EMAIL = "admin@localhost.test"
TEMPLATE_PASSWORD = "test-admin-password"
TEMPLATE_TOKEN = "test0admin0token0a1b2c3d4e5f6a7b8c9d0e1f"

# The server-backed tests run against SQLite by default. CI runs them a second time with
# BUILDER_TEST_DATABASE=postgresql://USER[:PASSWORD]@HOST:PORT (a PostgreSQL server the tests
# may create databases in) and BUILDER_TEST_WORKERS=3 (gunicorn with three worker processes).
TEST_DATABASE = os.environ.get("BUILDER_TEST_DATABASE", "")
TEST_WORKERS = int(os.environ.get("BUILDER_TEST_WORKERS") or 0)

_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_FIELD_ERROR = re.compile(r'<ul class="field_errors">\s*<li>([^<]+)</li>')


@dataclass(frozen=True)
class Template:
    """An initialized data dir to copy, and the admin it holds."""

    path: Path
    email: str
    password: str
    token: str
    database: str = ""  # the PostgreSQL template database's URL; "" for SQLite in `path`


@dataclass(frozen=True)
class LabelStudioServer:
    url: str
    token: str
    email: str
    password: str
    data_dir: Path
    database: str = ""
    workers: int = 0

    def invite_link(self) -> str:
        """The organization's invite link, as the admin gets it (Organization → Add people)."""
        answer = requests.get(
            f"{self.url}/api/invite", headers={"Authorization": f"Token {self.token}"}, timeout=30
        )
        answer.raise_for_status()
        return f"{self.url}{answer.json()['invite_url']}"

    def signup(
        self, email: str, password: str, link: str | None = None
    ) -> tuple[requests.Response, requests.Session]:
        """Post the signup form (of `link`, else the bare signup page) as a new visitor would:
        the answer, and the visitor's session."""
        link = link or f"{self.url}/user/signup/"
        session = requests.Session()
        form = session.get(link, timeout=30)
        form.raise_for_status()
        csrf = _CSRF.search(form.text)
        assert csrf, "no csrfmiddlewaretoken in the signup form"
        answer = session.post(
            link,
            data={"email": email, "password": password, "csrfmiddlewaretoken": csrf.group(1)},
            headers={"Referer": link},
            allow_redirects=False,
            timeout=30,
        )
        return answer, session

    def create_user(self, email: str, password: str) -> str:
        """Sign up another user through the invite link (sign-up is closed without it) and
        return that user's API token."""
        answer, session = self.signup(email, password, self.invite_link())
        # Success redirects; a refused form comes back as 200 with the reasons in it.
        if answer.status_code != 302:
            reasons = _FIELD_ERROR.findall(answer.text) or [f"HTTP {answer.status_code}"]
            raise AssertionError(f"signup of {email} failed: {'; '.join(reasons)}")
        # Signing up leaves the session logged in as the new user.
        token = session.get(f"{self.url}/api/current-user/token", timeout=30)
        token.raise_for_status()
        return token.json()["token"]


def label_studio_version() -> str:
    python = server.label_studio_bin().parent / "python"
    code = "from importlib.metadata import version; print(version('label-studio'))"
    result = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return result.stdout.strip()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def with_database(url: str, name: str) -> str:
    """The server URL `url` pointing at the database `name`."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def postgres(command: str, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL client program (createdb, dropdb, psql) against the server of `url`."""
    parts = urlsplit(url)
    env = {**os.environ, "PGPASSWORD": parts.password or ""}
    where = ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432)]
    where += ["-U", parts.username or "postgres"]
    return subprocess.run(
        [command, *where, *args], env=env, capture_output=True, text=True, check=True
    )


def database_exists(url: str, name: str) -> bool:
    query = f"SELECT 1 FROM pg_database WHERE datname = '{name}'"
    return postgres("psql", url, "-d", "postgres", "-tAc", query).stdout.strip() == "1"


def copy_database(template: str, copy: str) -> None:
    """Create the database of URL `copy` as a copy of the one of URL `template`."""
    # PostgreSQL copies a template only while nobody else uses it: one copy at a time.
    with open(REPO_ROOT / ".labelstudio" / "test-template.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        template_name = urlsplit(template).path.strip("/")
        postgres("createdb", TEST_DATABASE, "-T", template_name, urlsplit(copy).path.strip("/"))


def local_server_from_template(root: Path, template: Template) -> Settings:
    """`root`'s local server (`make labelstudio`'s) made a copy of the template: its data dir,
    and on the PostgreSQL run its database (the one `root`'s .env names, else a new one written
    there; the caller drops it); the admin's login goes into .env."""
    shutil.copytree(template.path, root / ".labelstudio" / "data", symlinks=True)
    settings = Settings.load(root)
    lines = [
        f"{EMAIL_KEY}={template.email}",
        f"{PASSWORD_KEY}={template.password}",
        f"{TOKEN_KEY}={template.token}",
    ]
    if template.database:
        # There the template's users and token live in its database, not in the data dir.
        database = settings.label_studio_database
        if database:
            postgres("dropdb", TEST_DATABASE, urlsplit(database).path.strip("/"))
        else:
            database = with_database(TEST_DATABASE, f"builder_local_{secrets.token_hex(6)}")
            lines.append(f"LABEL_STUDIO_DATABASE={database}")
        copy_database(template.database, database)
        (root / ".labelstudio" / "database").write_text(redact_url(database) + "\n")
    with open(root / ".env", "a", encoding="utf-8") as env:
        env.write("".join(f"{line}\n" for line in lines))
    return Settings.load(root)


@pytest.fixture(scope="session")
def labelstudio_template() -> Template:
    """A data dir made once by `label-studio init`, cached in the git-ignored .labelstudio/;
    with BUILDER_TEST_DATABASE, its database is a PostgreSQL template database beside it."""
    cache = REPO_ROOT / ".labelstudio"
    version = label_studio_version()
    path = cache / f"test-template-{version}"
    database = ""
    if TEST_DATABASE:
        parts = urlsplit(TEST_DATABASE)
        database = with_database(TEST_DATABASE, f"builder_template_{version.replace('.', '_')}")
        path = cache / f"test-template-{version}-postgresql-{parts.hostname}-{parts.port}"
    cache.mkdir(parents=True, exist_ok=True)
    # Other sessions may run at the same time: one builds, the others wait for it.
    with open(cache / "test-template.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        name = urlsplit(database).path.strip("/")
        if database and path.exists() and not database_exists(TEST_DATABASE, name):
            shutil.rmtree(path)  # a new PostgreSQL cluster: the data dir's database is gone
        if not path.exists():
            if database:
                postgres("dropdb", TEST_DATABASE, "--if-exists", name)
                postgres("createdb", TEST_DATABASE, name)
            server.init_data_dir(path, TEMPLATE_EMAIL, TEMPLATE_PASSWORD, TEMPLATE_TOKEN, database)
    return Template(path, TEMPLATE_EMAIL, TEMPLATE_PASSWORD, TEMPLATE_TOKEN, database)


@pytest.fixture(scope="session")
def labelstudio(
    labelstudio_template: Template, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LabelStudioServer]:
    """A fresh server for this session: a copy of the template (it keeps its tokens), and of
    its PostgreSQL database (`createdb -T`) when there is one."""
    home = tmp_path_factory.mktemp("labelstudio")
    data_dir = home / "data"
    shutil.copytree(labelstudio_template.path, data_dir, symlinks=True)
    database = ""
    if labelstudio_template.database:
        database = with_database(TEST_DATABASE, f"builder_test_{secrets.token_hex(6)}")
        copy_database(labelstudio_template.database, database)
    try:
        for attempt in (1, 2):
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            log_path = home / "server.log"
            process = server.launch(data_dir, port, log_path, database, TEST_WORKERS)
            try:
                server.wait_until_ready(url, server.START_TIMEOUT, process, log_path, port)
                break
            except server.PortMovedError:
                # Someone took the port between our probe and the server's start.
                if attempt == 2:
                    raise
        try:
            yield LabelStudioServer(
                url=url,
                token=labelstudio_template.token,
                email=labelstudio_template.email,
                password=labelstudio_template.password,
                data_dir=data_dir,
                database=database,
                workers=TEST_WORKERS,
            )
        finally:
            server.stop_process_group(process.pid)
    finally:
        if database:
            postgres("dropdb", TEST_DATABASE, "--if-exists", urlsplit(database).path.strip("/"))


@pytest.fixture(scope="module")
def api(labelstudio: LabelStudioServer) -> Api:
    """Plain REST calls to the session's server as its admin: what the server really holds.
    One per module, so that module-scoped fixtures can use it."""
    return Api(labelstudio.url, labelstudio.token)


@pytest.fixture
def project_root(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    for name in ("raw", "schemas", "exports"):
        (root / name).mkdir(parents=True)
    return root


@pytest.fixture
def server_settings(
    labelstudio: LabelStudioServer, project_root: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """Settings of `project_root` pointing at the session's server, whatever the shell holds."""
    for key in ("LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY", "LABEL_STUDIO_PORT"):
        monkeypatch.delenv(key, raising=False)
    # The session's server is not this root's local one: it is reached like a team server.
    (project_root / ".env").write_text(
        f"LABEL_STUDIO_URL={labelstudio.url}\nLABEL_STUDIO_API_KEY={labelstudio.token}\n",
        encoding="utf-8",
    )
    return Settings.load(project_root)
