"""A throwaway PostgreSQL server for tests: a fresh cluster in a temporary directory.

The server binaries refuse to run as root, so when the tests run as root the cluster is owned
by, and run as, the ``postgres`` OS user (via ``runuser``). Authentication is ``trust`` on
127.0.0.1 only, and fsync is off: the cluster is thrown away after the session.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

INSTALL_HINT = "PostgreSQL server binaries not found: apt-get install postgresql"


def find_bindir() -> Path | None:
    """Where initdb/pg_ctl live: $PLLM_PG_BINDIR, PATH, or the newest Debian install."""
    explicit = os.environ.get("PLLM_PG_BINDIR")
    if explicit:
        return Path(explicit) if (Path(explicit) / "pg_ctl").exists() else None
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).parent
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """``initdb`` + ``pg_ctl start`` on 127.0.0.1 and a free port; ``cleanup()`` removes it."""

    def __init__(self, bindir: Path | None = None) -> None:
        found = bindir or find_bindir()
        if found is None:
            raise FileNotFoundError(INSTALL_HINT)
        self.bindir = found
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="pllm-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sock"
        self.log = self.root / "server.log"
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            # postgres will not run as root; hand the directory to the postgres user.
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as_user = ["runuser", "-u", "postgres", "--"]
        self._run("mkdir", "-m", "700", str(self.sockets), tool=False)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        )
        self.start()

    def _run(self, name: str, *args: str, tool: bool = True) -> None:
        program = str(self.bindir / name) if tool else name
        done = subprocess.run(
            [*self._as_user, program, *args], capture_output=True, text=True, timeout=60
        )
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{name} {args} failed:\n{done.stdout}{done.stderr}\n{log}")

    def url_for(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def url(self) -> str:
        """The ``postgres`` maintenance database."""
        return self.url_for("postgres")

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.sockets} "
            # Not synchronous_commit=off: an immediate stop would lose the last commits, and
            # tests stop the server on purpose. fsync=off loses nothing unless the OS crashes.
            "-c fsync=off -c full_page_writes=off"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "immediate") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        self.stop("fast")
        self.start()

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Runs ``sql`` with psql (fixtures use it to create databases without an event loop)."""
        psql = self.bindir / "psql"
        program = str(psql) if psql.exists() else "psql"
        done = subprocess.run(
            [
                *(program, "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"),
                *("-d", database, "-v", "ON_ERROR_STOP=1", "-Atqc", sql),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise RuntimeError(f"psql {sql!r} failed: {done.stderr}")
        return done.stdout

    def cleanup(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
