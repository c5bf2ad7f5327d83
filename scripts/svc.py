"""Small service probes for the shell scripts (stdlib + the venv's psycopg/redis).

    python scripts/svc.py pg URL            exit 0: server answers and the database exists (created if missing)
    python scripts/svc.py redis URL         exit 0: PING answered
    python scripts/svc.py test-redis URL    print URL with database 15 (the test suite's Redis db)
    python scripts/svc.py port-free PORT    exit 0: nothing listens on 127.0.0.1:PORT
    python scripts/svc.py free-port         print a free TCP port on 127.0.0.1
    python scripts/svc.py wait-http URL SECONDS [PID]   exit 0 once URL answers (< 500); 1 on timeout or if PID dies
    python scripts/svc.py dotenv-exports [KEY...]       print `export K=V` for .env entries not already in the
                                                        environment (all keys, or only those named)
    python scripts/svc.py run-settings                  print APP_PORT BACKEND_PORT WORKER_PROCESSES WORKER_THREADS
    python scripts/svc.py reflex-lock [WEB_DIR...]      rewrite reflex.lock/package.json (and WEB_DIR/package.json)
                                                        in the exact form Reflex renders it (see reflex_lock below)
"""

from __future__ import annotations

import os
import socket
import sys
import time
import urllib.error
import urllib.request


def pg(url: str) -> int:
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    conninfo = u.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        psycopg.connect(conninfo, connect_timeout=3).close()
        return 0
    except psycopg.OperationalError as exc:
        if f'database "{u.database}" does not exist' not in str(exc):
            print(f"PostgreSQL at {u.render_as_string(hide_password=True)}: {str(exc).strip().splitlines()[0]}",
                  file=sys.stderr)
            return 2
    admin = u.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    try:
        with psycopg.connect(admin, connect_timeout=3, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{u.database}"')
        print(f"created database {u.database}", file=sys.stderr)
        return 0
    except psycopg.Error as exc:
        print(f"could not create database {u.database}: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return 3


def redis_ping(url: str) -> int:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        client.ping()
        client.close()
        return 0
    except Exception as exc:  # noqa: BLE001 - any failure means "not usable"
        print(f"Redis at {url}: {exc}", file=sys.stderr)
        return 2


def test_redis(url: str) -> int:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    print(urlunsplit(parts._replace(path="/15")))
    return 0


def port_free(port: str) -> int:
    with socket.socket() as s:
        return 1 if s.connect_ex(("127.0.0.1", int(port))) == 0 else 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])
    return 0


def wait_http(url: str, seconds: str, pid: str | None = None) -> int:
    deadline = time.monotonic() + float(seconds)
    while time.monotonic() < deadline:
        if pid:
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                return 1
        try:
            with urllib.request.urlopen(url, timeout=3) as resp:
                if resp.status < 500:
                    return 0
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return 0
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.5)
    return 1


def dotenv_exports(*keys: str) -> int:
    import shlex
    from pathlib import Path

    from dotenv import dotenv_values

    path = Path(__file__).resolve().parent.parent / ".env"
    if not path.exists():
        return 0
    wanted = {k.upper() for k in keys}
    for key, value in dotenv_values(path).items():
        if value is None or key in os.environ or (wanted and key.upper() not in wanted):
            continue
        print(f"export {key}={shlex.quote(value)}")
    return 0


def run_settings() -> int:
    from imagechat.settings import get_settings

    s = get_settings()
    print(s.app_port, s.backend_port, s.worker_processes, s.worker_threads)
    return 0


def reflex_lock(*web_dirs: str) -> int:
    """Keep reflex.lock/package.json in one byte form, so builds leave `git status` clean.

    Reflex copies `.web/package.json` over reflex.lock/package.json at the end of every compile. A fresh
    `.web` gets Reflex's own rendering (compact `json.dumps`, reflex_base.compiler.templates.
    package_json_template); but once `bun add` has changed a `.web/package.json` (a new frontend package),
    bun rewrites it pretty-printed, and that `.web` keeps copying the pretty form back. So the committed
    file flipped between the two forms depending on which machine built last. This renders the same
    content the way a fresh `.web` does; only the formatting is touched, never the pins.
    """
    import json
    from pathlib import Path

    from reflex_base.compiler.templates import package_json_template

    root = Path(__file__).resolve().parent.parent
    for path in [root / "reflex.lock" / "package.json", *(Path(d) / "package.json" for d in web_dirs)]:
        try:
            text = path.read_text()
            data = json.loads(text)
        except (OSError, ValueError):
            continue  # missing or damaged: Reflex itself deals with that
        if not isinstance(data, dict):
            continue
        rendered = package_json_template(
            scripts=data.pop("scripts", None) or {},
            dependencies=data.pop("dependencies", None) or {},
            dev_dependencies=data.pop("devDependencies", None) or {},
            overrides=data.pop("overrides", None) or {},
            **data,
        )
        if rendered != text and json.loads(rendered) == json.loads(text):
            path.write_text(rendered)
    return 0


def main(argv: list[str]) -> int:
    cmd, *args = argv
    return {"pg": pg, "redis": redis_ping, "test-redis": test_redis, "port-free": port_free,
            "free-port": free_port, "wait-http": wait_http,
            "dotenv-exports": dotenv_exports, "run-settings": run_settings, "reflex-lock": reflex_lock}[cmd](*args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
