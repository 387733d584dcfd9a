"""Tests of starting and stopping the local Label Studio, against real servers."""

from __future__ import annotations

import os
import secrets
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from conftest import (
    TEST_DATABASE,
    TEST_WORKERS,
    LabelStudioServer,
    Template,
    local_server_from_template,
    postgres,
    with_database,
)
from support import free_port

from builder.core.config import (
    EMAIL_KEY,
    PASSWORD_KEY,
    TOKEN_KEY,
    Settings,
    read_dotenv,
    redact_url,
    write_dotenv,
)
from builder.core.errors import BuilderError
from builder.labelstudio import server

_SHELL_VARS = (
    "LABEL_STUDIO_URL",
    "LABEL_STUDIO_API_KEY",
    "LABEL_STUDIO_PORT",
    EMAIL_KEY,
    PASSWORD_KEY,
    TOKEN_KEY,
)


@pytest.fixture
def local_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A project root whose local server runs on a free port; stopped again afterwards."""
    for key in _SHELL_VARS:
        monkeypatch.delenv(key, raising=False)
    root = tmp_path / "project"
    root.mkdir()
    env = f"LABEL_STUDIO_PORT={free_port()}\n"
    # In CI's second run, the local server too has its database in PostgreSQL, under gunicorn.
    database = ""
    if TEST_DATABASE:
        database = with_database(TEST_DATABASE, f"builder_test_{secrets.token_hex(6)}")
        postgres("createdb", TEST_DATABASE, database.rpartition("/")[2])
        env += f"LABEL_STUDIO_DATABASE={database}\n"
    if TEST_WORKERS:
        env += f"LABEL_STUDIO_WORKERS={TEST_WORKERS}\n"
    (root / ".env").write_text(env, encoding="utf-8")
    yield root
    # A failed test must not leave a server behind.
    found = server._read_pid_file(Settings.load(root))
    if found:
        server.stop_process_group(found[0])
    if database:
        postgres("dropdb", TEST_DATABASE, "--if-exists", database.rpartition("/")[2])


def _projects_status(url: str, token: str) -> int:
    headers = {"Authorization": f"Token {token}"}
    return requests.get(f"{url}/api/projects", headers=headers, timeout=30).status_code


@pytest.mark.server
def test_session_server_answers_and_token_authenticates(labelstudio: LabelStudioServer) -> None:
    health = requests.get(f"{labelstudio.url}/health", timeout=10)
    assert health.status_code == 200
    assert health.json() == {"status": "UP"}
    assert _projects_status(labelstudio.url, labelstudio.token) == 200
    assert _projects_status(labelstudio.url, "not-the-token") == 401


@pytest.mark.server
def test_create_user_returns_a_working_token(labelstudio: LabelStudioServer) -> None:
    token = labelstudio.create_user("annotator1@localhost.test", "annotator-password-1")
    assert token != labelstudio.token
    me = requests.get(
        f"{labelstudio.url}/api/current-user/whoami",
        headers={"Authorization": f"Token {token}"},
        timeout=30,
    )
    assert me.status_code == 200
    assert me.json()["email"] == "annotator1@localhost.test"
    with pytest.raises(AssertionError, match="already exists"):
        labelstudio.create_user("annotator1@localhost.test", "annotator-password-1")


@pytest.mark.server
def test_server_settings_point_at_the_session_server(
    server_settings: Settings, labelstudio: LabelStudioServer
) -> None:
    assert not server_settings.uses_local_server
    assert server_settings.server_url == labelstudio.url
    assert server_settings.api_key.reveal() == labelstudio.token


def test_server_environment_strips_what_label_studio_would_misread(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    stripped = [
        "HOST",
        "PORT",
        "USERNAME",
        "PASSWORD",
        "DEBUG",
        "LABEL_STUDIO_HOST",
        "HEARTEX_PORT",
        "LABEL_STUDIO_USERNAME",
        "LABEL_STUDIO_URL",
        "LABEL_STUDIO_API_KEY",
    ]
    for key in stripped:
        monkeypatch.setenv(key, "from-the-shell")
    monkeypatch.setenv("SENTRY_DSN", "https://tracker.example")
    monkeypatch.setenv("KEEP_ME", "yes")

    env = server.server_environment(tmp_path / "data")

    assert not set(stripped) & set(env)
    assert env["LABEL_STUDIO_BASE_DATA_DIR"] == str((tmp_path / "data").resolve())
    assert env["SENTRY_DSN"] == env["FRONTEND_SENTRY_DSN"] == ""
    assert env["LABEL_STUDIO_COLLECT_ANALYTICS"] == "false"
    assert env["LABEL_STUDIO_LATEST_VERSION_CHECK"] == "false"
    assert env["KEEP_ME"] == "yes"
    assert os.environ["USERNAME"] == "from-the-shell"


def test_write_dotenv_keeps_other_lines(tmp_path: Path) -> None:
    env_path = tmp_path / ".env"
    env_path.write_text("# mine\nDATASET_NAME=demo\nLOCAL_LABEL_STUDIO_TOKEN=old\n\n")

    write_dotenv(env_path, {TOKEN_KEY: "new", EMAIL_KEY: "a@b.test"})

    text = env_path.read_text()
    assert text == "# mine\nDATASET_NAME=demo\nLOCAL_LABEL_STUDIO_TOKEN=new\n\n" + (
        "LOCAL_LABEL_STUDIO_EMAIL=a@b.test\n"
    )
    assert stat.S_IMODE(env_path.stat().st_mode) == 0o600


def test_start_with_a_team_server_starts_nothing(
    local_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LABEL_STUDIO_URL", "https://labels.example.org")

    server.start(Settings.load(local_root))

    assert "team server" in capsys.readouterr().out
    assert not (local_root / ".labelstudio").exists()


def test_start_on_a_busy_port_fails_and_starts_nothing(local_root: Path) -> None:
    settings = Settings.load(local_root)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", settings.port))
        busy.listen()
        with pytest.raises(BuilderError) as error:
            server.start(settings)
    assert str(settings.port) in error.value.message
    assert "LABEL_STUDIO_PORT" in str(error.value.fix)
    assert not (local_root / ".labelstudio").exists()
    assert server.status(settings) is None


def test_stop_when_nothing_runs(local_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server.stop(Settings.load(local_root))
    assert "not running" in capsys.readouterr().out


@pytest.mark.server
def test_start_twice_then_stop(
    local_root: Path, labelstudio_template: Template, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = local_server_from_template(local_root, labelstudio_template)

    first = server.start(settings)
    second = server.start(settings)
    printed = capsys.readouterr().out

    assert first.url == settings.server_url
    assert second.pid == first.pid
    assert "already running" in printed
    assert settings.server_url in printed
    assert labelstudio_template.password in printed
    assert labelstudio_template.token not in printed
    assert server.status(settings) == first
    assert _projects_status(first.url, labelstudio_template.token) == 200

    server.stop(settings)

    assert "stopped" in capsys.readouterr().out
    assert server.status(settings) is None
    assert not server.is_healthy(first.url)
    assert not (local_root / ".labelstudio" / "server.pid").exists()


@pytest.mark.server
def test_first_start_creates_the_admin_and_keeps_env(
    local_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env_path = local_root / ".env"
    env_path.write_text(env_path.read_text() + "# keep me\nDATASET_NAME=demo\n")

    info = server.start(Settings.load(local_root))
    printed = capsys.readouterr().out

    values = read_dotenv(env_path)
    assert "# keep me\nDATASET_NAME=demo\n" in env_path.read_text()
    assert stat.S_IMODE(env_path.stat().st_mode) == 0o600
    assert values[EMAIL_KEY] == info.email
    assert values[PASSWORD_KEY] == info.password
    token = values[TOKEN_KEY]
    assert token not in printed
    assert info.email in printed and info.password in printed
    assert "make labelstudio-stop" in printed
    assert _projects_status(info.url, token) == 200
    # The token is what the rest of the builder will read from this root.
    assert Settings.load(local_root).api_key.reveal() == token
    assert [p.name for p in (local_root / ".labelstudio").iterdir() if p.name.startswith(".")] == []

    server.stop(Settings.load(local_root))
    assert not server.is_healthy(info.url)


def test_a_postgresql_url_becomes_label_studios_own_settings(tmp_path: Path) -> None:
    env = server.server_environment(
        tmp_path / "data", "postgresql://desk:s%40cret@db.internal:5433/labelstudio"
    )
    assert env["DJANGO_DB"] == "default"
    assert (env["POSTGRE_NAME"], env["POSTGRE_USER"], env["POSTGRE_PASSWORD"]) == (
        "labelstudio",
        "desk",
        "s@cret",
    )
    assert (env["POSTGRE_HOST"], env["POSTGRE_PORT"]) == ("db.internal", "5433")
    # Without a URL the database is SQLite in the data dir, whatever the shell says.
    assert server.server_environment(tmp_path / "data")["DJANGO_DB"] == "sqlite"


@pytest.mark.parametrize(
    "url", ["mysql://root@localhost/ls", "postgresql://u:pw@localhost:5432", "labelstudio"]
)
def test_a_database_url_that_is_not_postgresql_is_refused_without_its_password(
    tmp_path: Path, url: str
) -> None:
    with pytest.raises(BuilderError, match="LABEL_STUDIO_DATABASE") as error:
        server.server_environment(tmp_path, url)
    assert "pw" not in error.value.message


def test_redact_hides_the_password_only() -> None:
    assert redact_url("postgresql://desk:pw@db:5432/ls") == "postgresql://desk:***@db:5432/ls"
    assert redact_url("postgresql://desk@db/ls") == "postgresql://desk@db/ls"


def test_a_data_dir_made_for_another_database_is_not_started(
    local_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = local_root / ".labelstudio" / "data"
    data.mkdir(parents=True)
    (local_root / ".labelstudio" / "database").write_text("sqlite\n")
    with open(local_root / ".env", "a", encoding="utf-8") as env:
        env.write("LABEL_STUDIO_DATABASE=postgresql://desk:pw@127.0.0.1:1/other\n")
    with pytest.raises(BuilderError, match="set up with the database sqlite") as error:
        server.start(Settings.load(local_root))
    assert "pw" not in error.value.message and "pw" not in capsys.readouterr().out
    assert server._read_pid_file(Settings.load(local_root)) is None
