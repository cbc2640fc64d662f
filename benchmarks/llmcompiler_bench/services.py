"""Throwaway PostgreSQL and Redis servers on unix sockets, for tests and benchmarks.

Each server lives in a fresh temporary directory (data and socket), listens on no TCP
port, and is stopped and deleted by :meth:`stop` (or on leaving the `with` block). They
use the machine's own binaries: Debian's `postgresql` package (`initdb`, `pg_ctl` under
`/usr/lib/postgresql/<version>/bin`) and `redis-server`. PostgreSQL refuses to run as
root, so as root the cluster is created and run as the `postgres` user.

Example:
    >>> from llmcompiler_bench.services import postgres_binaries
    >>> postgres_binaries() is None or postgres_binaries().name == "bin"
    True
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType

__all__ = [
    "POSTGRES_INSTALL_HINT",
    "REDIS_INSTALL_HINT",
    "ThrowawayPostgres",
    "ThrowawayRedis",
    "postgres_binaries",
    "process_cpu_seconds",
    "redis_binary",
]

POSTGRES_INSTALL_HINT = "apt-get install postgresql (Debian's server binaries: initdb, pg_ctl)"
REDIS_INSTALL_HINT = "apt-get install redis-server"


def postgres_binaries() -> Path | None:
    """The newest `/usr/lib/postgresql/<version>/bin` holding `initdb`, or `pg_ctl`'s folder on PATH."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1].parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def redis_binary() -> Path | None:
    """`redis-server`, if installed."""
    found = shutil.which("redis-server")
    return Path(found) if found else None


def process_cpu_seconds(pid: int, *, with_children: bool = False) -> float:
    """User + system CPU seconds of a live process (Linux `/proc`); 0.0 once it is gone.

    With `with_children`, the CPU of its children that have exited and been waited for is
    added (for PostgreSQL's postmaster: every backend that has closed).
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if with_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def _as_service_user(user: str) -> tuple[list[str], int | None, int | None]:
    """Command prefix and ids to run a server as `user` when we are root (servers refuse root)."""
    if os.geteuid() != 0:
        return [], None, None
    entry = pwd.getpwnam(user)
    return ["runuser", "-u", user, "--"], entry.pw_uid, entry.pw_gid


class ThrowawayPostgres:
    """A PostgreSQL cluster in a temporary directory, reachable only on its unix socket.

    Attributes:
        directory: the cluster's home; the data is in `data/`, the socket in the directory itself.
        url: a libpq URL of the `postgres` database, e.g. `postgresql://postgres@/postgres?host=/tmp/pg-x`.
    """

    def __init__(self, *, max_connections: int = 200, fsync: bool = True) -> None:
        binaries = postgres_binaries()
        if binaries is None:
            msg = f"PostgreSQL server binaries not found: {POSTGRES_INSTALL_HINT}"
            raise RuntimeError(msg)
        self.binaries = binaries
        self.max_connections = max_connections
        self.fsync = fsync
        # A short path: a unix socket's path must stay under about 100 bytes.
        self.directory = Path(tempfile.mkdtemp(prefix="pg-", dir="/tmp"))
        self.url = f"postgresql://postgres@/postgres?host={self.directory}"
        self._prefix, uid, gid = _as_service_user("postgres")
        if uid is not None and gid is not None:
            os.chown(self.directory, uid, gid)
        self._started = False

    def _run(self, *command: str) -> None:
        result = subprocess.run(
            [*self._prefix, *command], capture_output=True, text=True, timeout=120, check=False
        )
        if result.returncode != 0:
            msg = f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
            raise RuntimeError(msg)

    def start(self) -> ThrowawayPostgres:
        """Create the cluster (`initdb`, trust authentication) and start it (`pg_ctl start -w`)."""
        data = self.directory / "data"
        self._run(
            str(self.binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
            "--no-sync", "-E", "UTF8", "--locale=C",
        )  # fmt: skip
        options = (
            f"-k {self.directory} -c listen_addresses='' -c max_connections={self.max_connections}"
            f" -c fsync={'on' if self.fsync else 'off'}"
        )
        self._run(
            str(self.binaries / "pg_ctl"), "-D", str(data), "-o", options,
            "-l", str(self.directory / "server.log"), "-w", "-t", "60", "start",
        )  # fmt: skip
        self._started = True
        return self

    def database_url(self, name: str) -> str:
        """The URL of database `name` of this cluster."""
        return f"postgresql://postgres@/{name}?host={self.directory}"

    def create_database(self, name: str | None = None) -> str:
        """Create a new, empty database (a fresh name by default) and return its URL."""
        import psycopg

        name = name or f"db_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')  # a name we made, never user input
        return self.database_url(name)

    def log(self) -> str:
        """The server's log."""
        path = self.directory / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def cpu_seconds(self) -> float:
        """CPU time of the server: the postmaster, its live backends, and those that have exited."""
        try:
            postmaster = int((self.directory / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return 0.0
        total = process_cpu_seconds(postmaster, with_children=True)
        for task in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = task.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == postmaster:  # a live child (backend or background worker)
                total += process_cpu_seconds(int(task.parent.name))
        return total

    def stop(self) -> None:
        """Stop the server at once (`pg_ctl stop -m immediate`) and delete its directory."""
        if self._started:
            self._started = False
            with contextlib.suppress(RuntimeError):  # already gone: the directory is deleted all the same
                self._run(str(self.binaries / "pg_ctl"), "-D", str(self.directory / "data"),
                          "-m", "immediate", "-w", "stop")  # fmt: skip
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> ThrowawayPostgres:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


class ThrowawayRedis:
    """A `redis-server` with no persistence, listening only on a unix socket in a temporary directory.

    Attributes:
        url: e.g. `unix:///tmp/redis-x/redis.sock?db=0`.
    """

    def __init__(self) -> None:
        binary = redis_binary()
        if binary is None:
            msg = f"redis-server not found: {REDIS_INSTALL_HINT}"
            raise RuntimeError(msg)
        self.binary = binary
        self.directory = Path(tempfile.mkdtemp(prefix="redis-", dir="/tmp"))
        self.socket = self.directory / "redis.sock"
        self.url = f"unix://{self.socket}?db=0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ThrowawayRedis:
        """Start the server and wait until its socket accepts a PING."""
        import socket

        command = [
            str(self.binary), "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700",
            "--save", "", "--appendonly", "no", "--dir", str(self.directory), "--maxclients", "2000",
        ]  # fmt: skip
        with (self.directory / "server.log").open("wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                msg = f"redis-server exited with {self.process.returncode}:\n{self.log()}"
                raise RuntimeError(msg)
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                    client.settimeout(2)
                    client.connect(str(self.socket))
                    client.sendall(b"PING\r\n")
                    if client.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        msg = f"redis-server did not answer within 30 s:\n{self.log()}"
        raise RuntimeError(msg)

    def log(self) -> str:
        """The server's log."""
        path = self.directory / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def cpu_seconds(self) -> float:
        """CPU time of the server so far."""
        return process_cpu_seconds(self.process.pid) if self.process is not None else 0.0

    def stop(self) -> None:
        """Stop the server and delete its directory."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> ThrowawayRedis:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
