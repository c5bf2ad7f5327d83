"""End-to-end fixtures: the real app (`reflex run --env prod`) and a real worker, driven by Chromium.

The app runs in its own process group with the same environment `make run` uses (scripts/env.sh: Reflex
probes off, bun from .tools/), against this session's test database and Redis database, with the
offline engine. Its web build lives outside the checkout's `.web/` so a running `make run` is not
disturbed; the build directory is kept between sessions, so only the first run pays for `bun install`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.support.services import http_ok

# The app and Chromium share 2 cores with the rest of the suite: allow slow first renders.
expect.set_options(timeout=15_000)

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
E2E_OPENAI_KEY = "sk-e2e-" + os.urandom(12).hex()
APP_START_TIMEOUT_S = float(os.environ.get("E2E_APP_START_TIMEOUT", "600"))  # first prod build + bun install


def pytest_collection_modifyitems(items):
    """Mark everything here `e2e` and run it after all other tests.

    Playwright's sync API keeps an event loop running in the main thread while its session fixtures
    live; any pytest-asyncio test scheduled after the first browser test would then fail with
    "Runner.run() cannot be called from a running event loop".
    """
    here = Path(__file__).parent
    e2e = [item for item in items if Path(str(item.fspath)).is_relative_to(here)]
    for item in e2e:
        item.add_marker(pytest.mark.e2e)
    ids = {id(item) for item in e2e}
    items[:] = [item for item in items if id(item) not in ids] + e2e


def project_env() -> dict[str, str]:
    """os.environ plus everything scripts/env.sh exports (the one place the Reflex probe switches live)."""
    out = subprocess.run(
        ["bash", "-c", 'source "$1" >/dev/null && env -0', "bash", str(ROOT / "scripts" / "env.sh")],
        check=True, capture_output=True, env=os.environ.copy(),
    ).stdout
    return dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop_group(proc: subprocess.Popen, timeout: float = 15) -> None:
    if proc.poll() is not None:
        try:  # the leader is gone; children (Granian, bun) may still hold the group
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@contextlib.contextmanager
def running_app(name: str, database_url: str, redis_url: str, start_worker, **overrides):
    """`reflex run --env prod` plus one worker, with this session's database and Redis; yields the base URL.

    Each `name` gets its own web build directory, so two apps never rebuild under each other.
    """
    env = project_env()
    bun = Path(env["REFLEX_BUN_PATH"])
    if not bun.exists():
        pytest.fail(f"bun is missing at {bun}: run `make test` (or scripts/setup.sh) once to install it")
    tag = hashlib.sha1(f"{ROOT}:{name}".encode()).hexdigest()[:10]
    web_dir = Path(tempfile.gettempdir()) / f"imagechat-e2e-web-{tag}"
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        REFLEX_REDIS_URL=redis_url,  # Redis state manager, as in `make run`
        GRANIAN_WORKERS=env.get("GRANIAN_WORKERS", "2"),
        REFLEX_WEB_WORKDIR=str(web_dir),
        REFLEX_STATES_WORKDIR=str(web_dir.with_name(web_dir.name + "-states")),
        LOG_DIR=str(ARTIFACTS / "logs"),
    )
    # Every browser test signs up (so sign-up is open whatever a local .env says) and logs in from 127.0.0.1,
    # which the per-address throttles would otherwise refuse after a few tests.
    env.update({"ALLOW_SIGNUP": "open", "LOGIN_LIMIT_PER_ADDRESS": "1000/minute",
                "SIGNUP_LIMIT_PER_ADDRESS": "1000/minute", **{k.upper(): str(v) for k, v in overrides.items()}})
    port = _free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / f"e2e-reflex-{name}.log"
    log = open(log_path, "wb")
    reflex = shutil.which("reflex", path=env["PATH"]) or str(Path(sys.executable).with_name("reflex"))
    started = time.monotonic()
    proc = subprocess.Popen(
        [reflex, "run", "--env", "prod", "--frontend-port", str(port), "--backend-port", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"

    def _fail(why: str):
        _stop_group(proc)
        log.close()
        tail = log_path.read_text(errors="replace")[-6000:]
        pytest.fail(f"{why}\n--- reflex log ({log_path}) ---\n{tail}", pytrace=False)

    try:
        worker = start_worker(processes=1, threads=2, **overrides)
    except Exception as exc:  # noqa: BLE001 - report with the app log, then stop the app
        _fail(f"the Dramatiq worker did not start: {exc}")

    deadline = started + APP_START_TIMEOUT_S
    while not (http_ok(f"{base}/ping") and http_ok(f"{base}/")):
        if proc.poll() is not None:
            _fail(f"reflex exited with code {proc.returncode} before answering")
        if time.monotonic() > deadline:
            _fail(f"the app did not answer within {APP_START_TIMEOUT_S:.0f} s")
        time.sleep(0.25)
    print(f"\n[e2e] {name} app ready at {base} in {time.monotonic() - started:.1f} s", file=sys.stderr)
    try:
        yield base
    finally:
        t = time.monotonic()
        _stop_group(proc)
        log.close()
        worker.stop()
        print(f"[e2e] {name} app and worker stopped in {time.monotonic() - t:.1f} s", file=sys.stderr)


@pytest.fixture(scope="session")
def app_server(database_url, redis_url, start_worker) -> str:
    """The offline-engine app, once per session. A key is present (the offline engine is chosen
    explicitly): test_secrets proves it never reaches the browser."""
    # The key makes the app use a chat model: its base URL is a closed local port, so nothing leaves the
    # machine and every turn falls back to the parser (as with an unreachable API).
    with running_app("offline", database_url, redis_url, start_worker, image_engine="offline",
                     openai_api_key=E2E_OPENAI_KEY, openai_base_url="http://127.0.0.1:9/v1",
                     openai_max_retries=0) as base:
        yield base


@pytest.fixture(scope="session")
def base_url(app_server) -> str:
    """pytest-playwright's base_url: `page.goto("/")` opens the app."""
    return app_server


@pytest.fixture
def console_errors(page):
    """Collects console errors and uncaught page errors; a test asserts the list is empty."""
    errors: list[str] = []
    def on_console(msg):
        # A failed resource is reported with its URL by the response hook below.
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            errors.append(f"console.{msg.type}: {msg.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on("response", lambda r: errors.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    return errors


@pytest.fixture(scope="session")
def screenshots_dir() -> Path:
    d = ARTIFACTS / "screenshots"
    d.mkdir(parents=True, exist_ok=True)
    return d
