"""Throwaway databases and real worker processes, shared by the test suite and the benchmarks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATABASE_URL = "postgresql+psycopg://127.0.0.1:5432/imagechat"


@contextmanager
def temporary_database(prefix: str = "imagechat_test") -> Iterator[str]:
    """A new database migrated to head by Alembic; dropped afterwards."""
    base = make_url(os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, check=True,
                       env={**os.environ, "DATABASE_URL": url}, capture_output=True)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class WorkerProcess:
    """A real Dramatiq worker (`python -m workers`) in its own process group, logging to a file."""

    def __init__(self, log_path: Path, env: dict, processes: int = 1, threads: int = 2):
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "workers", "--processes", str(processes), "--threads", str(threads)],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            self._wait_ready(processes)
        except BaseException:  # not ready (or Ctrl-C): nobody holds this object to stop it, so end it here
            self.kill()
            self._log.close()
            raise

    def _wait_ready(self, processes: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log().count("is ready for action") >= processes:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"worker did not start:\n{self.log()[-4000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                # SIGTERM to the Dramatiq main process only: it forwards one SIGTERM to each worker
                # process. Signalling the whole group delivers two, and Dramatiq treats a second
                # SIGTERM as "kill now" (sys.exit from the handler), which can hang on live threads.
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
            except ProcessLookupError:
                pass
        self._log.close()


def worker_env(database_url: str, redis_url: str, **overrides) -> dict:
    return {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1",
            "LOG_DIR": str(ROOT / "artifacts" / "logs"),  # test logs never mix with a real run's .data/logs
            **{k.upper(): str(v) for k, v in overrides.items()}}


class WorkerGroup:
    """Workers started with their own settings; `stop_all` ends them (fixtures call it at teardown)."""

    def __init__(self, database_url: str, redis_url: str, log_dir: Path):
        self.database_url, self.redis_url, self.log_dir = database_url, redis_url, log_dir
        self.started: list[WorkerProcess] = []

    def start(self, processes: int = 1, threads: int = 2, **env_overrides) -> WorkerProcess:
        log = self.log_dir / f"worker{len(self.started)}.log"
        env = worker_env(self.database_url, self.redis_url, **env_overrides)
        worker = WorkerProcess(log, env, processes, threads)
        self.started.append(worker)
        return worker

    def stop_all(self) -> None:
        for worker in self.started:
            worker.stop()


def create_user(prefix: str = "u") -> int:
    """A user row for tests and benchmarks (no usable password)."""
    from imagechat.db import session_scope
    from imagechat.models import User

    with session_scope() as s:
        user = User(username=f"{prefix}_{uuid.uuid4().hex[:10]}", password_hash="!")
        s.add(user)
        s.flush()
        return user.id


def http_ok(url: str) -> bool:
    """Whether `url` answers 200 within 3 s (a server that is starting or gone does not)."""
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return resp.status == 200
    except (OSError, urllib.error.URLError):
        return False
