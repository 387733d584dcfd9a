"""Start, watch and stop the local Label Studio server (`make labelstudio`)."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import psutil
import requests

from builder.core import atomic
from builder.core.config import EMAIL_KEY, PASSWORD_KEY, Settings, redact_url
from builder.core.errors import BuilderError

ADMIN_EMAIL = "admin@localhost.test"

INIT_TIMEOUT = 300.0
# A first start on a busy machine can take 60-90 s; this only bounds a hung start.
START_TIMEOUT = 300.0
STOP_GRACE = 20.0

# Label Studio reads LABEL_STUDIO_X, then HEARTEX_X, then plain X: a shell's USERNAME or PORT
# would silently become the server's. DATABASE_NAME and DJANGO_DB would move the database
# out of the data dir.
_MISREAD = (
    "HOST",
    "PORT",
    "USERNAME",
    "PASSWORD",
    "USER_TOKEN",
    "DEBUG",
    "DATABASE_NAME",
    "DJANGO_DB",
)
# Our client settings, never meant for the server.
_CLIENT_VARS = ("LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY")
# Django's development server, or gunicorn's master, says where it listens.
_STARTED_AT = re.compile(
    r"(?:Starting development server at|Listening at:) https?://[^\s:/]+:(\d+)"
)
# gunicorn's worker timeout defaults to 30 s: large imports and exports take minutes.
GUNICORN_TIMEOUT = 900


@dataclass(frozen=True)
class ServerInfo:
    url: str
    email: str
    password: str
    pid: int | None


class PortMovedError(BuilderError):
    """Label Studio found its port busy and quietly served on another one."""


def label_studio_bin(settings: Settings | None = None) -> Path:
    """The server's program: it has its own venv (its pins clash with ours), LABEL_STUDIO_BIN."""
    program = (settings or Settings.load()).label_studio_bin
    if not program.is_file():
        raise BuilderError(
            f"Label Studio is not installed: {program} is missing",
            fix="make install (or set LABEL_STUDIO_BIN to its `label-studio` program)",
        )
    return program


def gunicorn_bin(program: Path | None = None) -> Path:
    path = (program or label_studio_bin()).parent / "gunicorn"
    if not path.is_file():
        raise BuilderError(f"gunicorn is not installed: {path} is missing", fix="make install")
    return path


def database_environment(url: str) -> dict[str, str]:
    """Label Studio's own settings for a PostgreSQL database given as a URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres") or not parts.path.strip("/"):
        raise BuilderError(
            f"LABEL_STUDIO_DATABASE={redact_url(url)!r} is not a PostgreSQL URL",
            fix="write it as postgresql://USER:PASSWORD@HOST:PORT/DATABASE, or unset it for SQLite",
        )
    return {
        "DJANGO_DB": "default",
        "POSTGRE_NAME": unquote(parts.path.strip("/")),
        "POSTGRE_USER": unquote(parts.username or "postgres"),
        "POSTGRE_PASSWORD": unquote(parts.password or ""),
        "POSTGRE_HOST": parts.hostname or "localhost",
        "POSTGRE_PORT": str(parts.port or 5432),
    }


def server_environment(data_dir: Path, database: str = "") -> dict[str, str]:
    """The environment for a Label Studio process that keeps its state in `data_dir`, and its
    database there (SQLite) or in the PostgreSQL database of the URL `database`."""
    env = dict(os.environ)
    for name in _MISREAD:
        for key in (name, f"LABEL_STUDIO_{name}", f"HEARTEX_{name}"):
            env.pop(key, None)
    for key in _CLIENT_VARS:
        env.pop(key, None)
    env.update(
        LABEL_STUDIO_BASE_DATA_DIR=str(Path(data_dir).resolve()),
        # The defaults report errors to Label Studio's outside tracker.
        SENTRY_DSN="",
        FRONTEND_SENTRY_DSN="",
        LABEL_STUDIO_COLLECT_ANALYTICS="false",
        LABEL_STUDIO_LATEST_VERSION_CHECK="false",
        # Open sign-up would give anyone who reaches the port an account, every project's data
        # and an API token: new users come only through the organization's invite link.
        LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK="true",
        DJANGO_DB="sqlite",
    )
    if database:
        env.update(database_environment(database))
    return env


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _log_tail(log_path: Path) -> str:
    try:
        return _tail(log_path.read_text(encoding="utf-8", errors="replace"))
    except FileNotFoundError:
        return "(no log)"


def init_data_dir(
    data_dir: Path,
    email: str,
    password: str,
    token: str,
    database: str = "",
    program: Path | None = None,
) -> None:
    """Run migrations and create the admin with a legacy API token, without serving.

    Built in a temporary directory beside `data_dir` and renamed into place, so a crash
    never leaves a half-initialized data dir.
    """
    data_dir = Path(data_dir)
    if data_dir.exists():
        raise BuilderError(f"{data_dir} already exists; not initializing it again")
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=data_dir.parent, prefix=f".{data_dir.name}.init-"))
    try:
        env = server_environment(staging, database)
        # Secrets go through the environment: a command line is visible to every user in `ps`.
        env["LABEL_STUDIO_PASSWORD"] = password
        env["LABEL_STUDIO_USER_TOKEN"] = token
        command = [str(program or label_studio_bin()), "init", "-q", "--username", email]
        command += ["--enable-legacy-api-token"]
        try:
            result = subprocess.run(
                command,
                env=env,
                cwd=staging,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=INIT_TIMEOUT,
            )
        except subprocess.TimeoutExpired as exc:
            raise BuilderError(
                f"`label-studio init` did not finish in {INIT_TIMEOUT:.0f} s",
                fix="check that the disk is not full and try again",
            ) from exc
        if result.returncode != 0 or "successfully initialized" not in result.stdout:
            raise BuilderError(
                f"`label-studio init` failed (exit code {result.returncode}):\n"
                + _tail(result.stdout + result.stderr),
                fix="read the output above; `make install` reinstalls the server",
            )
        os.rename(staging, data_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def launch(
    data_dir: Path,
    port: int,
    log_path: Path,
    database: str = "",
    workers: int = 0,
    program: Path | None = None,
) -> subprocess.Popen:
    """Start serving `data_dir` on 127.0.0.1:`port` in the background, output to `log_path`.

    With `workers`, Label Studio's Django app is served by gunicorn with that many worker
    processes (a team's deployment), not by its single-process development server.
    """
    program = program or label_studio_bin()
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = server_environment(data_dir, database)
    cwd = Path(data_dir)
    if workers:
        command = [str(gunicorn_bin(program)), "core.wsgi:application", "--workers", str(workers)]
        command += ["--bind", f"127.0.0.1:{port}", "--timeout", str(GUNICORN_TIMEOUT)]
        env["DJANGO_SETTINGS_MODULE"] = "core.settings.label_studio"
        # `core.wsgi` is imported from Label Studio's package folder.
        cwd = label_studio_package(program)
    else:
        command = [str(program), "start", "--no-browser"]
        command += ["--internal-host", "127.0.0.1", "--port", str(port)]
    with open(log_path, "wb") as log:
        # A session of its own: the server outlives `make`, and stop() can signal its group.
        return subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def label_studio_package(program: Path | None = None) -> Path:
    """The `label_studio` package folder in the server's venv."""
    venv = (program or label_studio_bin()).parent.parent
    found = sorted(venv.glob("lib/python*/site-packages/label_studio"))
    if not found:
        raise BuilderError("Label Studio's package folder is missing", fix="make install")
    return found[-1]


def is_healthy(url: str) -> bool:
    try:
        response = requests.get(f"{url}/health", timeout=2)
        return response.status_code == 200 and response.json().get("status") == "UP"
    except (requests.RequestException, ValueError):
        return False


def wait_until_ready(
    url: str, timeout: float, process: subprocess.Popen, log_path: Path, port: int
) -> None:
    """Wait for /health; on any failure stop `process` and raise a BuilderError with its log."""
    deadline = time.monotonic() + timeout
    try:
        while True:
            code = process.poll()
            if code is not None:
                raise BuilderError(
                    f"Label Studio exited with code {code} while starting:\n{_log_tail(log_path)}",
                    fix=f"read the log: {log_path}",
                )
            log = log_path.read_text(encoding="utf-8", errors="replace")
            started = _STARTED_AT.search(log)
            if started and int(started.group(1)) != port:
                raise PortMovedError(
                    f"port {port} was taken, so Label Studio moved to port {started.group(1)}",
                    fix=f"stop the program using port {port}, or set LABEL_STUDIO_PORT",
                )
            # Without our own log line, a 200 could come from another server on that port.
            if started and is_healthy(url):
                return
            if time.monotonic() > deadline:
                raise BuilderError(
                    f"Label Studio did not answer at {url} within {timeout:.0f} s:\n"
                    + _log_tail(log_path),
                    fix=f"read the log: {log_path}",
                )
            time.sleep(0.5)
    except BaseException:
        stop_process_group(process.pid)
        raise


def _alive(pid: int) -> bool:
    # Reap it if it is our own child, or a stopped server lingers as a zombie.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    return psutil.pid_exists(pid)


def _group_alive(pgid: int) -> bool:
    _alive(pgid)
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_process_group(pid: int, grace: float = STOP_GRACE) -> None:
    """SIGTERM the process group led by `pid`; SIGKILL it if still there after `grace` s."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _group_alive(pid):
                return
            time.sleep(0.1)


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the server does, so a port left in TIME_WAIT by a stopped server counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# The local server's files --------------------------------------------------------------------
def _data_dir(settings: Settings) -> Path:
    return settings.server_dir / "data"


def _log_path(settings: Settings) -> Path:
    return settings.server_dir / "server.log"


def _database_path(settings: Settings) -> Path:
    """Which database the local data dir was set up with (a URL without its password)."""
    return settings.server_dir / "database"


def _pid_path(settings: Settings) -> Path:
    return settings.server_dir / "server.pid"


def _read_pid_file(settings: Settings) -> tuple[int, int] | None:
    """The (pid, port) of our server if its process still runs, else None."""
    try:
        pid_text, port_text = _pid_path(settings).read_text(encoding="utf-8").split()
        pid, port = int(pid_text), int(port_text)
    except (FileNotFoundError, ValueError):
        return None
    if not _alive(pid):
        return None
    # After a reboot the pid may belong to another program: never signal that one.
    try:
        command = " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:  # gone, a zombie, or not ours to look at: not ours to signal either
        return None
    if not any(name in command for name in ("label-studio", "gunicorn")):
        return None
    return pid, port


def _listens_on(pid: int, port: int) -> bool:
    """Whether the process `pid` or one of its descendants listens on `port`."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return False
    for process in processes:
        try:
            connections = process.net_connections(kind="inet")
        except psutil.Error:
            continue
        if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in connections):
            return True
    return False


def verify_local(settings: Settings) -> None:
    """Fail unless LABEL_STUDIO_PORT is served by the Label Studio `make labelstudio` started for
    this project: its pid file names a running label-studio whose own process listens there.

    Checked before the local API key is sent anywhere: any program may listen on that port.
    """
    port = settings.port
    found = _read_pid_file(settings)
    if found is None:
        raise BuilderError(
            f"no Label Studio started by `make labelstudio` runs for {settings.root} "
            f"(no live server in {_pid_path(settings)}); not sending the API key to port {port}",
            fix="start it with `make labelstudio`, or set LABEL_STUDIO_URL for a team server",
        )
    pid, server_port = found
    if server_port != port:
        raise BuilderError(
            f"this project's Label Studio (pid {pid}) serves port {server_port}, but "
            f"LABEL_STUDIO_PORT is {port}; not sending the API key there",
            fix=f"set LABEL_STUDIO_PORT={server_port}, or restart the server with "
            "`make labelstudio-stop` and `make labelstudio`",
        )
    if not _listens_on(pid, port):
        raise BuilderError(
            f"the program answering on port {port} is not the Label Studio `make labelstudio` "
            f"started (pid {pid}); not sending it the API key",
            fix=f"find what listens on port {port} (e.g. `ss -ltnp`), stop it, then "
            "`make labelstudio-stop` and `make labelstudio`",
        )


def _info(settings: Settings, url: str, pid: int | None) -> ServerInfo:
    login = settings.local_label_studio_email, settings.local_label_studio_password.reveal()
    return ServerInfo(url, *login, pid)


def status(settings: Settings) -> ServerInfo | None:
    """Our local server if it runs and answers, else None."""
    found = _read_pid_file(settings)
    if found is None:
        return None
    pid, port = found
    url = f"http://127.0.0.1:{port}"
    return _info(settings, url, pid) if is_healthy(url) else None


def start(settings: Settings) -> ServerInfo:
    """Start the local server unless it already runs; print where it is and how to log in."""
    if not settings.uses_local_server:
        print(
            f"A team server is configured ({settings.server_url_shown}): not starting a local one."
        )
        return ServerInfo(settings.server_url_shown, "", "", None)

    running = status(settings)
    if running:
        print(f"Label Studio is already running at {running.url} (pid {running.pid}).")
        return running
    found = _read_pid_file(settings)
    if found:
        raise BuilderError(
            f"Label Studio (pid {found[0]}) is running but does not answer at port {found[1]}",
            fix="wait for it to finish starting, or run `make labelstudio-stop`",
        )

    port = settings.port
    if not port_is_free(port):
        raise BuilderError(
            f"port {port} is busy with another program",
            fix=f"stop the program using port {port}, or set LABEL_STUDIO_PORT to a free port",
        )

    database, workers = settings.label_studio_database, settings.label_studio_workers
    data_dir = _data_dir(settings)
    program = label_studio_bin(settings)
    used = _database_path(settings)
    if data_dir.exists():
        email = settings.local_label_studio_email
        password = settings.local_label_studio_password.reveal()
        # A data dir made before this setting existed was made for SQLite.
        was = used.read_text(encoding="utf-8").strip() if used.is_file() else "sqlite"
        if was != (redact_url(database) if database else "sqlite"):
            raise BuilderError(
                f"the local Label Studio in {data_dir} was set up with the database {was}, "
                f"and LABEL_STUDIO_DATABASE says {redact_url(database) if database else 'SQLite'}",
                fix=f"set LABEL_STUDIO_DATABASE back, or move {settings.server_dir} away to "
                "start afresh (its annotations stay in the old database)",
            )
    else:
        email, password, token = ADMIN_EMAIL, secrets.token_urlsafe(12), secrets.token_hex(20)
        # .env first: a crash after init must not leave a server whose login nobody knows.
        settings.save_local_login(email, password, token)
        print("First start: creating the local Label Studio database (about a minute)...")
        init_data_dir(data_dir, email, password, token, database, program)
        atomic.write_text(used, (redact_url(database) if database else "sqlite") + "\n")

    url = f"http://127.0.0.1:{port}"
    log_path = _log_path(settings)
    process = launch(data_dir, port, log_path, database, workers, program)
    pid_path = _pid_path(settings)
    # Written before waiting, so an interrupted start can still be stopped.
    atomic.write_text(pid_path, f"{process.pid} {port}\n")
    try:
        wait_until_ready(url, START_TIMEOUT, process, log_path, port)
    except BaseException:
        pid_path.unlink(missing_ok=True)
        raise

    print(f"Label Studio is running at {url}")
    served = f"gunicorn, {workers} worker processes" if workers else "one process"
    where = redact_url(database) if database else f"SQLite in {data_dir}"
    print(f"  database: {where}; {served}")
    if email and password:
        print(f"  log in as {email} with password {password}")
    else:
        print(f"  login unknown: {EMAIL_KEY} and {PASSWORD_KEY} are missing from .env")
    print("  stop it with `make labelstudio-stop`")
    return ServerInfo(url, email, password, process.pid)


def stop(settings: Settings) -> None:
    """Stop our local server if it runs; succeed quietly otherwise."""
    pid_path = _pid_path(settings)
    found = _read_pid_file(settings)
    if found is None:
        pid_path.unlink(missing_ok=True)
        print("Label Studio is not running.")
        return
    stop_process_group(found[0])
    pid_path.unlink(missing_ok=True)
    print(f"Label Studio stopped (pid {found[0]}).")
