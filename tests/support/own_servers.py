"""A PostgreSQL cluster and a Redis server of a test's own, for tests that kill and restart them.

Never the shared servers (:5432, :6379) the rest of the suite uses. Both listen on 127.0.0.1 only, on a free
port, with their files in a temporary directory that `destroy()` deletes. As root, initdb and pg_ctl run as
the `postgres` user (they refuse root), as scripts/services.sh does.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from tests.support.services import ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pg_bin(name: str) -> str:
    if found := shutil.which(name):
        return found
    for directory in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]),
                            reverse=True):
        if os.access(f"{directory}/{name}", os.X_OK):
            return f"{directory}/{name}"
    raise RuntimeError(f"{name} not found (install PostgreSQL: apt-get install postgresql)")


def tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError as exc:
        return f"({path}: {exc})"


class PostgresCluster:
    """initdb + pg_ctl on a free port; trust auth, superuser `postgres`."""

    def __init__(self) -> None:
        # Not under pytest's tmp dir: that is private to root, and the server runs as `postgres`.
        self.root = Path(tempfile.mkdtemp(prefix="imagechat-pg-"))
        self.data, self.sockets, self.log = self.root / "data", self.root / "run", self.root / "server.log"
        self.port = free_port()
        self._as_root = os.geteuid() == 0
        self.sockets.mkdir()
        if self._as_root:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(self.sockets, "postgres", "postgres")
        self._pg(_pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                 "--locale=C", "--no-instructions")

    def _pg(self, *cmd: str, timeout: float = 90) -> None:
        if self._as_root:
            cmd = ("runuser", "-u", "postgres", "--", *cmd)
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout}{done.stderr}\n{tail(self.log)}")

    def start(self) -> None:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.sockets} -c fsync=off "
                   "-c max_connections=200")
        self._pg(_pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o", options,
                 "start")

    def stop(self, mode: str = "fast") -> None:
        """`immediate` is a crash: no checkpoint, every backend killed; the next start replays the WAL."""
        self._pg(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new database migrated to head by Alembic; returns its URL."""
        admin = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
        url = self.url(name)
        subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, check=True,
                       env={**os.environ, "DATABASE_URL": url}, capture_output=True, timeout=120)
        return url

    def wait_ready(self, timeout: float = 30) -> None:
        engine = create_engine(self.url())
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    with engine.connect() as conn:
                        conn.execute(text("SELECT 1"))
                    return
                except OperationalError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
        finally:
            engine.dispose()

    def destroy(self) -> None:
        if self.running():
            try:
                self.stop("immediate")
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self.root, ignore_errors=True)


class RedisServer:
    """redis-server in the foreground (its own process group), no persistence: a restart starts empty."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="imagechat-redis-"))
        self.log = self.root / "redis.log"
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self, timeout: float = 20) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.root), "--logfile", str(self.log)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        client = redis.Redis.from_url(self.url(), socket_connect_timeout=1)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    if client.ping():
                        return
                except redis.RedisError:
                    if self.proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"redis-server did not start:\n{tail(self.log)}") from None
                    time.sleep(0.05)
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: no shutdown save (there is none configured anyway), every key gone."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def destroy(self) -> None:
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)
