"""A throwaway local Label Studio for the bench: a cached template data dir in, a server out."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from builder.labelstudio import server as builder_server

EMAIL = "bench@example.com"
CREDENTIALS = "credentials.json"
START_TIMEOUT = 300.0


@dataclass
class Server:
    url: str
    token: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    log: Path


def label_studio_version() -> str:
    """The installed server's version, read from its metadata (asking the binary takes seconds)."""
    lib = builder_server.label_studio_bin().parent.parent / "lib"
    for info in sorted(lib.glob("python*/site-packages/label_studio-*.dist-info")):
        return info.name.removeprefix("label_studio-").removesuffix(".dist-info")
    return "unknown"


def free_port() -> int:
    """A port the OS just handed out, checked the way the server binds it."""
    for _ in range(20):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if builder_server.port_is_free(port):
            return port
    raise RuntimeError("no free port on 127.0.0.1")


def template() -> Path:
    """A migrated data dir with the bench user, made once per server version and then copied:
    a copy starts in seconds, an empty dir spends a minute or more on migrations."""
    home = Path(tempfile.gettempdir()) / f"factcheck-bench-labelstudio-{label_studio_version()}"
    if (home / CREDENTIALS).is_file():
        return home
    shutil.rmtree(home, ignore_errors=True)  # a crash halfway left it unusable
    print("bench: preparing a Label Studio data dir once (migrations: a minute or two)", flush=True)
    token = secrets.token_hex(20)
    builder_server.init_data_dir(home / "data", EMAIL, secrets.token_urlsafe(12), token)
    (home / CREDENTIALS).write_text(json.dumps({"email": EMAIL, "token": token}))
    return home


def start(work_dir: Path, postgresql: str = "", workers: int = 0) -> Server:
    """A server on a fresh copy of the template, on a free port of 127.0.0.1; with `postgresql`
    (postgresql://USER@HOST:PORT), on a new database there, made and migrated for this run."""
    if postgresql:
        database = f"{postgresql.rstrip('/')}/bench_{secrets.token_hex(4)}"
        parts = urlsplit(database)
        subprocess.run(
            ["createdb", "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432)]
            + ["-U", parts.username or "postgres", parts.path.strip("/")],
            env={**os.environ, "PGPASSWORD": parts.password or ""},
            check=True,
        )
        token = secrets.token_hex(20)
        data_dir = work_dir / "labelstudio-data"
        print("bench: migrating a PostgreSQL database for Label Studio (a minute)", flush=True)
        builder_server.init_data_dir(data_dir, EMAIL, secrets.token_urlsafe(12), token, database)
    else:
        database = ""
        home = template()
        data_dir = work_dir / "labelstudio-data"
        shutil.copytree(home / "data", data_dir, symlinks=True)
        token = json.loads((home / CREDENTIALS).read_text())["token"]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = work_dir / "labelstudio.log"
    process = builder_server.launch(data_dir, port, log, database, workers)
    # On failure this stops the process itself and raises with the log's tail.
    builder_server.wait_until_ready(url, START_TIMEOUT, process, log, port)
    return Server(url, token, process, data_dir, log)


def stop(server: Server) -> None:
    """SIGTERM to the server's own process group (it runs in a session of its own), then wait."""
    if server.process.poll() is None:
        builder_server.stop_process_group(server.process.pid)
    server.process.wait(timeout=30)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        running = start(Path(tmp))
        print(f"up at {running.url} in {time.monotonic() - started:.1f} s")
        stop(running)
