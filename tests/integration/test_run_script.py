"""`make run` stops everything it started within 10 s, however it is stopped, and starts again cleanly.

Three ways a user or a supervisor stops it (issue "Hardening", point 10):
  * Ctrl-C in a terminal: SIGINT to the whole foreground process group (make, scripts/run.sh, the log tees);
  * SIGTERM to `make` alone (`kill <pid of make>`);
  * SIGTERM to the whole process group (what a process supervisor sends).

Each test starts the real `make run` in a session of its own, as a terminal would, against this machine's
PostgreSQL (a throwaway database) and Redis (a private key namespace), so no project-local server starts. Before
the signal it records every process of the started tree (descendants of make, found through /proc) and tags the
environment so that a process which left the tree would be found too. After the signal it checks that within 10 s
make has exited, none of those processes is alive and the port is free; then a second `make run` on the same port
must come up. That second run is the next test's app, and the last one is stopped at the end of the module, so
the three cases take four starts. Each start builds the frontend (about a minute; more on a loaded machine), in a
build directory of this checkout kept between sessions (like the e2e tests': a developer's `make run` in the
checkout's `.web/` is not rebuilt under it).

Select or skip with `-m run_script` / `-m "not run_script"`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.services import ROOT, http_ok, temporary_database

pytestmark = [
    pytest.mark.run_script,
    pytest.mark.skipif(not Path("/proc/self/stat").exists() or shutil.which("make") is None,
                       reason="needs Linux /proc and make"),
]

STOP_LIMIT_S = 10.0
START_TIMEOUT_S = float(os.environ.get("RUN_SCRIPT_START_TIMEOUT", "900"))  # a first build includes `bun install`
TAG = "IMAGECHAT_RUN_SCRIPT_TEST"  # environment marker: finds a started process even if it left the tree


# --- processes, through /proc -------------------------------------------------------------------------------------

def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, start time) of a process, or None when it does not exist."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[19])


def _pids() -> list[int]:
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid in _pids():
        st = _stat(pid)
        if st is not None:
            children.setdefault(st[1], []).append(pid)
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo.extend(children.get(pid, []))
    return found


def _tagged(tag: str) -> set[int]:
    """Processes whose environment carries this run's tag (anything `make run` started, in the tree or not)."""
    needle = f"{TAG}={tag}".encode()
    found = set()
    for pid in _pids():
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if needle in env.split(b"\0"):
            found.add(pid)
    return found


@dataclass(frozen=True)
class Proc:
    pid: int
    started: int  # start time in clock ticks: a reused pid is a different process
    cmd: str

    @classmethod
    def of(cls, pid: int) -> Proc | None:
        st = _stat(pid)
        if st is None:
            return None
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            cmd = "?"
        return cls(pid, st[2], cmd[:160])

    def alive(self) -> bool:
        st = _stat(self.pid)
        return st is not None and st[2] == self.started and st[0] not in ("Z", "X")  # a zombie has ended


# --- the app ------------------------------------------------------------------------------------------------------

def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_in_a_terminal() -> None:
    # A terminal's shell starts make with default signal handling; pytest itself may have been started with
    # SIGINT ignored (e.g. in the background), and an ignored signal cannot be trapped by run.sh.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


@dataclass
class MakeRun:
    proc: subprocess.Popen
    log_path: Path
    tag: str
    port: int
    started_at: float
    tree: list[Proc] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def record_tree(self) -> list[Proc]:
        pids = _descendants(self.pid) | _tagged(self.tag)
        self.tree = [p for p in (Proc.of(pid) for pid in sorted(pids)) if p is not None]
        return self.tree


class Runner:
    """Starts `make run`; remembers the one currently running so the next test can take it over."""

    def __init__(self, env: dict[str, str], port: int, log_dir: Path):
        self.env, self.port, self.log_dir = env, port, log_dir
        self.current: MakeRun | None = None
        self.starts = 0

    def start(self) -> MakeRun:
        for attempt in (1, 2):
            run = self._start_once()
            if run is not None:
                self.current = run
                return run
            # A prod build can fail on a loaded machine (React Router's prerender request times out): once more.
            print(f"\n[run_script] make run did not come up (attempt {attempt}):\n{self._last_log[-3000:]}")
        pytest.fail(f"`make run` did not come up on port {self.port}:\n{self._last_log[-6000:]}", pytrace=False)

    def _start_once(self) -> MakeRun | None:
        assert not _port_open(self.port), f"port {self.port} is busy before `make run`"
        self.starts += 1
        tag = uuid.uuid4().hex
        log_path = self.log_dir / f"make-run-{self.starts}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                ["make", "run"], cwd=ROOT, env={**self.env, TAG: tag}, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_as_in_a_terminal,
            )
        run = MakeRun(proc, log_path, tag, self.port, time.monotonic())
        deadline = run.started_at + START_TIMEOUT_S
        # Up means: /ping answers and run.sh has finished starting (its banner), so the tree is complete.
        while not (http_ok(f"http://127.0.0.1:{self.port}/ping") and "imagechat is running at" in run.log()):
            if proc.poll() is not None or time.monotonic() > deadline:
                self._last_log = run.log()
                _kill_all(run)
                return None
            time.sleep(0.5)
        print(f"\n[run_script] make run #{self.starts} up on :{self.port} in {time.monotonic() - run.started_at:.0f} s")
        time.sleep(1)  # let the worker processes finish booting
        run.record_tree()
        return run

    _last_log = ""


def _kill_all(run: MakeRun) -> None:
    """Last resort after a failed assertion: leave nothing behind for the next test or a developer."""
    for p in run.tree + [q for q in (Proc.of(pid) for pid in _tagged(run.tag)) if q is not None]:
        if p.alive():
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    try:
        run.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def _stop_and_check(run: MakeRun, send, how: str) -> float:
    """Send the signal, then require within STOP_LIMIT_S: make exited, every recorded process gone, port free."""
    assert len(run.tree) >= 5, f"expected make, run.sh, Reflex and the worker in the tree: {run.tree}"
    t0 = time.monotonic()
    send(run)
    deadline = t0 + STOP_LIMIT_S
    while time.monotonic() < deadline:
        if (run.proc.poll() is not None and not any(p.alive() for p in run.tree)
                and not _tagged(run.tag) and not _port_open(run.port)):
            break
        time.sleep(0.1)
    took = time.monotonic() - t0
    made_exit = run.proc.poll()
    left = [p for p in run.tree if p.alive()]
    escaped = [p for p in (Proc.of(pid) for pid in _tagged(run.tag)) if p is not None and p not in left]
    port_busy = _port_open(run.port)
    if made_exit is None or left or escaped or port_busy:
        _kill_all(run)
        pytest.fail(
            f"{how}: after {STOP_LIMIT_S:.0f} s make exited={made_exit is not None}, port busy={port_busy}, "
            f"still alive: {left + escaped}\n--- make run output ---\n{run.log()[-6000:]}", pytrace=False)
    stopped = [line for line in run.log().splitlines() if "stopped in" in line]
    print(f"\n[run_script] {how}: everything gone in {took:.1f} s; run.sh: {stopped[-1:] or '-'}")
    return took


def ctrl_c(run: MakeRun) -> None:
    os.killpg(run.pid, signal.SIGINT)  # make leads its own group, like a terminal's foreground job


def sigterm_make(run: MakeRun) -> None:
    os.kill(run.pid, signal.SIGTERM)


def sigterm_group(run: MakeRun) -> None:
    os.killpg(run.pid, signal.SIGTERM)


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    import redis

    redis_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    namespace = f"run-script-{uuid.uuid4().hex[:8]}"
    tag = hashlib.sha1(str(ROOT).encode()).hexdigest()[:10]
    web_dir = Path(tempfile.gettempdir()) / f"imagechat-run-script-web-{tag}"
    log_dir = tmp_path_factory.mktemp("make-run")
    with temporary_database("imagechat_run_script") as database_url:
        env = {
            **os.environ,
            "APP_PORT": str(_free_port()),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "REFLEX_REDIS_URL": redis_url,
            "REDIS_NAMESPACE": namespace,
            "IMAGE_ENGINE": "offline",
            "LOG_DIR": str(log_dir / "logs"),
            "REFLEX_WEB_WORKDIR": str(web_dir),
            "REFLEX_STATES_WORKDIR": str(web_dir.with_name(web_dir.name + "-states")),
        }
        env.pop("OPENAI_API_KEY", None)
        env.pop("MAKEFLAGS", None)  # a `make test` parent's flags are not a user's
        env.pop("MFLAGS", None)
        env.pop("MAKELEVEL", None)
        runner = Runner(env, int(env["APP_PORT"]), log_dir)
        try:
            yield runner
            if runner.current is not None and runner.current.proc.poll() is None:
                _stop_and_check(runner.current, ctrl_c, "final stop (Ctrl-C)")
        finally:
            if runner.current is not None:
                _kill_all(runner.current)
            client = redis.Redis.from_url(redis_url)
            for key in client.scan_iter(match=f"{namespace}*", count=1000):
                client.delete(key)
            client.close()


def _running(runner: Runner) -> MakeRun:
    run = runner.current
    if run is None or run.proc.poll() is not None:
        run = runner.start()
    return run


@pytest.mark.parametrize("send, how", [
    (ctrl_c, "Ctrl-C (SIGINT to the foreground group)"),
    (sigterm_make, "SIGTERM to make alone"),
    (sigterm_group, "SIGTERM to the whole group"),
], ids=["ctrl-c", "sigterm-make", "sigterm-group"])
def test_make_run_stops_everything_within_10_s_and_starts_again(runner, send, how):
    run = _running(runner)
    _stop_and_check(run, send, how)
    runner.current = None
    again = runner.start()  # the same port, right away; this one is the next case's app
    assert http_ok(f"http://127.0.0.1:{again.port}/ping")
