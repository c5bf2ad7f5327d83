"""Scale with an I/O-bound engine (issue 10, point 6). Prints figures; asserts nothing.

    .venv/bin/python -m benchmarks.bench_scale [--runs 3] [--jobs 20] [--threads 2] [--round-trips 100]

About 7 minutes on the project machine (2 cores); --runs 1 for a quicker look, --skip to leave phases out.

The engine is OpenAI, played by the fake server (tests/fakes/openai_server.py, its own process on 127.0.0.1)
answering each image request after a delay drawn uniformly from 2-5 s, then streaming 2 partial images and the
final one: real 1024x1024 PNGs it draws, a remote API's work, so the fake runs at the workers' WORKER_NICE and does
not compete with the web process as a real API would not. A throwaway database and a private Redis namespace
(benchmarks/common.py); 20 users with budgets and rate limits raised for the benchmark; distinct prompts, so the
library never answers for the engine.

1. Throughput: a batch of --jobs jobs (one per user, 1024x1024, `jobs.submit`, the domain path of the chat)
   over real Dramatiq workers of 1, 2 and 3 processes with --threads threads each (WORKER_THREADS; 2 is the
   default), then 1 process with as many threads as the 3-process row has in all. jobs/s = jobs / (last
   finished_at in PostgreSQL - first submit), median of --runs runs per row, with the CPU seconds per job the
   workers and the fake used and how busy the machine's cores were (other work on the machine included).
2. UI round trip under load: the prod app (`reflex run --env prod`, Redis state manager, 2 Granian workers) on
   the same fake. Each of the 20 users has --per-user jobs in a conversation (fair scheduling runs 2 of each
   user's at a time) and a tab open on it over the real websocket (tests/support/reflex_client.py), so their
   progress streams in; workers: --ui-processes x --ui-threads. Another user's tab sends a cheap event
   (ChatState.set_drawer) and times until its delta arrives: idle first, then --round-trips while the 20 users'
   jobs run. Target p95 <= 50 ms.
3. The session watcher's cost (imagechat/state/session.py: each tab looks every SESSION_CHECK_S and asks
   PostgreSQL for finished jobs only when its user's counter of ended jobs moved, or every BACKSTOP_S): the app
   reaches PostgreSQL through a counting relay in this process that reads the frontend protocol (Query and
   Parse/Bind/Execute messages), so every statement the app sends is counted by its SQL; printed per second
   during phase 2 (21 tabs open), grouped by transaction, then for QUIET_WINDOW_S with the same tabs open and
   every job ended.
4. The blocking design for comparison: /bench/blocking (imagechat/pages/bench.py) is a plain handler calling
   the synchronous OpenAI client against the same fake, the shape of reflex-dev/templates `dalle`; 20 tabs start
   one generation each and 4 other tabs ping every 0.25 s (not waiting for answers, as a user keeps clicking)
   until they are all done; each ping's latency is timed.

Everything started here (fake, workers, app, relay) is stopped on exit, Ctrl-C and SIGTERM included.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import func
from sqlalchemy.engine import make_url
from sqlmodel import select

from benchmarks.bench_browser import app_server
from benchmarks.common import ROOT, environment, make_user, summary
from imagechat.core.auth import SESSION_COOKIE
from imagechat.core.chat import ACK
from imagechat.core.request import ImageRequest
from tests.support.services import WorkerProcess, worker_env

USERS = 20
LATENCY_S = (2.0, 5.0)
QUIET_WINDOW_S = 12.0  # phase 3: how long the open tabs are watched once every job ended
_MISSING = object()


# ------------------------------------------------------------------ processes and CPU


@contextmanager
def fake_openai(logdir: Path):
    """The fake OpenAI server as its own process with a 2-5 s latency; yields its base URL and pid. It runs at the
    workers' priority (WORKER_NICE): the images it draws are a remote API's work, which in production does not
    compete with the web process for this machine's CPU."""
    from imagechat.settings import get_settings

    nice = get_settings().worker_nice
    port_file = logdir / "fake.port"
    log = open(logdir / "fake.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.openai_server", "--port", "0", "--port-file", str(port_file),
         "--latency", str(LATENCY_S[0]), "--latency-max", str(LATENCY_S[1])],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=lambda: os.nice(nice),
    )
    try:
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the fake OpenAI server did not start:\n{(logdir / 'fake.log').read_text()}")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port_file.read_text()}/v1", proc.pid
    finally:
        _kill_session(proc)
        log.close()


def _kill_session(proc: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass


def _processes() -> list[tuple[int, list[str]]]:
    """(pid, /proc/pid/stat fields from field 3 on) of every live process."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    stat = fh.read()
            except OSError:
                continue
            found.append((int(entry), stat[stat.rindex(")") + 2:].split()))
    return found


def session_cpu_s(sid: int) -> float:
    """CPU seconds (user + system) used so far by the live processes of session `sid`."""
    ticks = sum(int(f[11]) + int(f[12]) for _, f in _processes() if int(f[3]) == sid)  # utime, stime; session
    return ticks / os.sysconf("SC_CLK_TCK")


def session_rss_mb(sid: int) -> float:
    """Resident memory of the live processes of session `sid` (MiB)."""
    return sum(int(f[21]) for _, f in _processes() if int(f[3]) == sid) * os.sysconf("SC_PAGE_SIZE") / 2**20


def session_serving(port: int) -> int:
    """The session id of the `reflex run` started for this port (bench_browser.app_server starts its own)."""
    for pid, fields in _processes():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                args = fh.read().split(b"\0")
        except OSError:
            continue
        if b"run" in args and b"--backend-port" in args and str(port).encode() in args:
            return int(fields[3])
    raise SystemExit(f"no reflex process found for port {port}")


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot (/proc/stat)."""
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


class Meter:
    """CPU used by some process sessions and the whole machine between start() and stop()."""

    def __init__(self, **sessions: int):
        self.sessions = sessions

    def __enter__(self) -> Meter:
        self._cpu = {name: session_cpu_s(sid) for name, sid in self.sessions.items()}
        self._ticks = machine_ticks()
        self._t = time.monotonic()
        return self

    def __exit__(self, *exc) -> None:
        self.cpu = {name: session_cpu_s(sid) - self._cpu[name] for name, sid in self.sessions.items()}
        busy, total = machine_ticks()
        self.busy = (busy - self._ticks[0]) / max(1, total - self._ticks[1])  # 0..1 of all cores
        self.wall = time.monotonic() - self._t


# ------------------------------------------------------------------ PostgreSQL statement counter


_TXN = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "END")
PING = "pool pre-ping (an empty query)"


def shape(sql: str) -> str:
    """A short name for a statement: the tables it reads or writes and the columns it filters on."""
    text = " ".join(sql.split())
    upper = text.upper()
    if upper.startswith(_TXN):
        return upper.split()[0]
    if upper.strip("; ") in ("", "SELECT 1"):  # SQLAlchemy's pre-ping on psycopg sends ";"
        return PING
    tables = re.findall(r"\b(?:FROM|JOIN|UPDATE|INTO)\s+(\w+)", text, flags=re.I)
    where = re.split(r"\bWHERE\b", text, maxsplit=1, flags=re.I)
    cols = re.findall(r"(\w+\.\w+)\s*(?:=|>|<|>=|<=|IN\b)", where[1], flags=re.I) if len(where) > 1 else []
    verb = upper.split()[0] if upper else "?"
    return f"{verb} {'+'.join(dict.fromkeys(tables))}" + (f" where {', '.join(dict.fromkeys(cols))}" if cols else "")


@dataclass
class Statement:
    at: float  # time.monotonic() when the client sent it
    shape: str
    txn: str = ""  # the first real statement of its transaction (what the transaction was for)


@dataclass
class _Conn:
    prepared: dict[bytes, bytes] = field(default_factory=dict)
    bound: bytes = b""
    open_txn: list[Statement] = field(default_factory=list)


class StatementCounter:
    """A TCP relay in front of PostgreSQL for one client process (the app): it passes every byte through and
    counts the statements the client sends (simple Query, and Execute of what Parse/Bind named), by SQL shape.
    The client must connect with sslmode=disable and gssencmode=disable, so the protocol is plain text."""

    SSL_REQUEST, GSS_REQUEST = 80877103, 80877104

    def __init__(self, upstream_host: str, upstream_port: int):
        self.upstream = (upstream_host, upstream_port)
        self.statements: list[Statement] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    def __enter__(self) -> StatementCounter:
        ready = threading.Event()

        def run() -> None:
            loop = self._loop = asyncio.new_event_loop()
            server = loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            server.close()
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

        self._thread = threading.Thread(target=run, name="pg-counter", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def url(self, database_url: str) -> str:
        return (make_url(database_url).set(host="127.0.0.1", port=self.port)
                .update_query_dict({"sslmode": "disable", "gssencmode": "disable"})
                .render_as_string(hide_password=False))

    def between(self, t0: float, t1: float) -> list[Statement]:
        with self._lock:
            return [s for s in self.statements if t0 <= s.at < t1]

    async def _handle(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        try:
            ureader, uwriter = await asyncio.open_connection(*self.upstream)
        except OSError:
            cwriter.close()
            return
        tasks = [asyncio.ensure_future(self._from_client(creader, uwriter)),
                 asyncio.ensure_future(self._copy(ureader, cwriter))]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            pass  # the relay is stopping
        finally:
            for task in tasks:
                task.cancel()
            for writer in (cwriter, uwriter):
                writer.close()

    @staticmethod
    async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()

    async def _from_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readexactly(8)  # the startup message has no type byte
            length, code = struct.unpack("!ii", head)
            writer.write(head + await reader.readexactly(length - 8))
            if code in (self.SSL_REQUEST, self.GSS_REQUEST):
                return  # encrypted from here on: unreadable (the URL from url() never asks for it)
            conn = _Conn()
            while True:
                head = await reader.readexactly(5)
                body = await reader.readexactly(struct.unpack("!i", head[1:])[0] - 4)
                writer.write(head + body)
                await writer.drain()
                self._read(conn, head[:1], body)
                if head[:1] == b"X":
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return

    def _read(self, conn: _Conn, kind: bytes, body: bytes) -> None:
        if kind == b"Q":
            self._record(conn, body.rstrip(b"\0"))
        elif kind == b"P":  # Parse: statement name, query
            name, _, rest = body.partition(b"\0")
            conn.prepared[name] = rest.split(b"\0", 1)[0]
        elif kind == b"B":  # Bind: portal name, statement name
            _, _, rest = body.partition(b"\0")
            conn.bound = conn.prepared.get(rest.split(b"\0", 1)[0], b"")
        elif kind == b"E":
            self._record(conn, conn.bound)

    def _record(self, conn: _Conn, sql: bytes) -> None:
        stmt = Statement(time.monotonic(), shape(sql.decode(errors="replace")))
        conn.open_txn.append(stmt)
        if stmt.shape in ("COMMIT", "ROLLBACK", "END") or len(conn.open_txn) > 1000:
            purpose = next((s.shape for s in conn.open_txn if s.shape not in _TXN and s.shape != PING), PING)
            for s in conn.open_txn:
                s.txn = purpose
            with self._lock:
                self.statements.extend(conn.open_txn)
            conn.open_txn = []


# ------------------------------------------------------------------ 1. throughput


def job_rows(ids: list[uuid.UUID]) -> list[tuple]:
    from imagechat.db import session_scope
    from imagechat.models import GenerationJob

    with session_scope() as s:
        return s.exec(select(GenerationJob.status, GenerationJob.created_at, GenerationJob.started_at,
                             GenerationJob.finished_at).where(GenerationJob.id.in_(ids))).all()


def active_jobs(owners: list[int]) -> int:
    from imagechat.db import session_scope
    from imagechat.models import TERMINAL, GenerationJob

    with session_scope() as s:
        return s.exec(select(func.count()).select_from(GenerationJob).where(
            GenerationJob.owner_id.in_(owners), GenerationJob.status.not_in(list(TERMINAL)))).one()


def one_batch(owners: list[int], count: int, tag: str, timeout: float, slots: int) -> dict:
    from imagechat.core import jobs
    from imagechat.models import TERMINAL, utcnow

    started = utcnow()
    ids = [jobs.submit(owners[i % len(owners)], ImageRequest(prompt=f"a harbour at dawn, study {tag}-{i}"))
           for i in range(count)]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = job_rows(ids)
        if all(row[0] in TERMINAL for row in rows):
            break
        time.sleep(0.1)
    else:
        raise SystemExit(f"batch {tag}: not every job ended within {timeout:.0f} s")
    ended = max(finished for *_, finished in rows)
    seconds = (ended - started).total_seconds()
    statuses = Counter(status for status, *_ in rows)
    waited = [(finished - created).total_seconds() for _, created, _, finished in rows]
    ran = [(finished - began).total_seconds() for _, _, began, finished in rows if began]
    # Share of the worker slots (processes x threads) holding a job, first submit to last done: what the batch's
    # start and tail leave idle, apart from the jobs themselves.
    return {"jobs_s": count / seconds, "seconds": seconds, "statuses": dict(statuses),
            "per_job_s": statistics.median(waited), "run_s": statistics.median(ran) if ran else 0.0,
            "slots_busy": sum(ran) / (slots * seconds)}


def throughput(owners: list[int], rows: list[tuple[int, int]], count: int, runs: int, logdir: Path,
               fake_pid: int) -> list[dict]:
    env = worker_env(os.environ["DATABASE_URL"], os.environ["REDIS_URL"])
    results = []
    for processes, threads in rows:
        worker = WorkerProcess(logdir / f"worker-{processes}x{threads}.log", env, processes, threads)
        try:
            batches = []
            for r in range(runs):
                concurrency = processes * threads
                timeout = 60 + 2 * count / concurrency * LATENCY_S[1]
                with Meter(workers=worker.proc.pid, fake=fake_pid) as meter:
                    batch = one_batch(owners, count, f"{processes}x{threads}-{r}-{uuid.uuid4().hex[:6]}", timeout,
                                      concurrency)
                batch.update(worker_cpu=meter.cpu["workers"] / count, fake_cpu=meter.cpu["fake"] / count,
                             busy=meter.busy)
                batch["rss_mb"] = session_rss_mb(worker.proc.pid)
                batches.append(batch)
                print(f"   {processes} process(es) x {threads} threads, run {r + 1}: {batch['jobs_s']:.2f} jobs/s "
                      f"({count} jobs in {batch['seconds']:.1f} s, {batch['statuses']}; per job: submit -> done "
                      f"median {batch['per_job_s']:.1f} s, started -> done {batch['run_s']:.1f} s; CPU per job: "
                      f"workers {batch['worker_cpu'] * 1000:.0f} ms, fake {batch['fake_cpu'] * 1000:.0f} ms; "
                      f"cores busy {batch['busy']:.0%})", flush=True)
        finally:
            worker.stop()
        median = statistics.median(b["jobs_s"] for b in batches)
        results.append({"processes": processes, "threads": threads, "jobs_s": median,
                        "all": [b["jobs_s"] for b in batches],
                        "worker_cpu": statistics.median(b["worker_cpu"] for b in batches),
                        "fake_cpu": statistics.median(b["fake_cpu"] for b in batches),
                        "busy": statistics.median(b["busy"] for b in batches),
                        "run_s": statistics.median(b["run_s"] for b in batches),
                        "rss_mb": max(b["rss_mb"] for b in batches),
                        "slots_busy": statistics.median(b["slots_busy"] for b in batches)})
    return results


def print_throughput(results: list[dict], count: int) -> None:
    base = results[0]["jobs_s"]
    print(f"\n1. throughput ({count} jobs of {USERS} users per run, OpenAI engine on the fake at "
          f"{LATENCY_S[0]:g}-{LATENCY_S[1]:g} s; median of {len(results[0]['all'])} runs)")
    print("   workers               | jobs/s (median) | runs               | x vs 1 | ideal x | slots busy | job run "
          "time | CPU/job workers+fake | cores busy | worker RSS")
    for r in results:
        concurrency = r["processes"] * r["threads"]
        ideal = concurrency / (results[0]["processes"] * results[0]["threads"])
        runs = ", ".join(f"{v:.2f}" for v in r["all"])
        print(f"   {r['processes']} process(es) x {r['threads']} thr | {r['jobs_s']:15.2f} | {runs:18} | "
              f"{r['jobs_s'] / base:6.2f} | {ideal:7.2f} | {r['slots_busy']:10.0%} | {r['run_s']:10.1f} s | "
              f"{r['worker_cpu'] * 1000:5.0f} + {r['fake_cpu'] * 1000:4.0f} ms       | {r['busy']:10.0%} | "
              f"{r['rss_mb']:.0f} MiB")
    mean_latency = sum(LATENCY_S) / 2
    print(f"   (bound for C jobs at once and a mean engine latency of {mean_latency:g} s: C / {mean_latency:g} "
          "jobs/s; slots busy = job run time summed / (C x batch time): the batch's start and tail leave the rest "
          "idle)")


# ------------------------------------------------------------------ 2-4. the app under load


def delta_value(msg, var: str):
    for values in msg.delta.values():
        if isinstance(values, dict) and f"{var}_rx_state_" in values:
            return values[f"{var}_rx_state_"]
    return _MISSING


async def round_trip(tab, handler: str, payload: dict, var: str, expect, *, path: str = "/",
                     timeout: float = 120.0) -> float:
    """ms from sending the event until a delta sets `var` to `expect`."""
    while not tab.received.empty():
        tab.received.get_nowait()
    sent = await tab.send(handler, payload, path=path)
    got = await tab.collect(quiet=0, max_wait=timeout, until=lambda m: delta_value(m, var) == expect)
    if not got.until_met:
        raise SystemExit(f"no answer to {handler} within {timeout:.0f} s ({tab.close_reason or 'open'})")
    return (next(m.at for m in got.messages if delta_value(m, var) == expect) - sent) * 1000


async def drain(tab, counts: Counter, key: str) -> None:
    """Read a load tab's messages (as a browser would) and count them."""
    while not tab.closed.is_set():
        await tab.received.get()
        counts[key] += 1


def queue_conversation_jobs(owner: int, per_user: int, tag: str) -> None:
    """What a chat turn that asks for an image does (core/chat.py act): the user's words, the job, the reply."""
    from imagechat.core import conversations, jobs
    from imagechat.models import Role

    conv = conversations.create(owner)
    for k in range(per_user):
        prompt = f"a lighthouse in a storm, study {tag}-{k}"
        conversations.add_message(owner, conv.id, Role.USER, f"paint {prompt}")
        job_id = jobs.submit(owner, ImageRequest(prompt=prompt), conversation_id=conv.id)
        conversations.add_message(owner, conv.id, Role.ASSISTANT, ACK, job_id=job_id)


@dataclass
class LoadResult:
    idle: list[float]
    loaded: list[float]
    active: list[int]
    streamed: int
    window_s: float
    statements: list[Statement]
    meter: Meter
    quiet_s: float  # then: the same tabs open, every job ended
    quiet_statements: list[Statement]


async def ui_under_load(base: str, handlers: dict[str, str], owners: list[int], me: int, per_user: int,
                        samples: int, counter: StatementCounter, sessions: dict[str, int]) -> LoadResult:
    from imagechat.core import auth
    from tests.support.reflex_client import cookie_storage_vars, open_tab

    set_drawer = handlers["ChatState.set_drawer"]

    async def signed_in_tab(owner: int):
        token = (await asyncio.to_thread(auth.start_session, owner))[1]
        cookies = {SESSION_COOKIE: token}
        return await open_tab(base, cookies=cookies, storage_vars=cookie_storage_vars(cookies), timeout=60)

    mine = await signed_in_tab(me)
    await mine.collect(quiet=0.5, max_wait=5)
    drawer = {"open": False}  # each event flips it, so each one changes the state and sends a delta

    async def toggle() -> float:
        drawer["open"] = not drawer["open"]
        return await round_trip(mine, set_drawer, {"open_": drawer["open"]}, "drawer_open", drawer["open"])

    for _ in range(3):  # warm-up
        await toggle()
    idle = []
    for _ in range(samples // 2):
        idle.append(await toggle())
        await asyncio.sleep(0.1)

    tag = uuid.uuid4().hex[:6]
    for owner in owners:
        await asyncio.to_thread(queue_conversation_jobs, owner, per_user, tag)
    tabs = [await signed_in_tab(owner) for owner in owners]
    counts: Counter = Counter()
    drains = [asyncio.ensure_future(drain(t, counts, "messages")) for t in tabs]
    active = {"n": await asyncio.to_thread(active_jobs, owners)}

    async def watch_active() -> None:
        while True:
            active["n"] = await asyncio.to_thread(active_jobs, owners)
            await asyncio.sleep(0.5)

    watcher = asyncio.ensure_future(watch_active())
    try:
        await asyncio.sleep(1.0)  # the tabs' on_load chains settle
        loaded, seen_active = [], []
        streamed_before = counts["messages"]
        t0 = time.monotonic()
        with Meter(**sessions) as meter:
            while len(loaded) < samples and active["n"] > 0:
                seen_active.append(active["n"])
                loaded.append(await toggle())
                await asyncio.sleep(0.1)
        t1 = time.monotonic()
        streamed = counts["messages"] - streamed_before
        deadline = time.monotonic() + 180
        while active["n"] > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        await asyncio.sleep(2 * _setting("session_check_s") + 1)  # the watchers have told the last ends
        t2 = time.monotonic()
        await asyncio.sleep(QUIET_WINDOW_S)
        t3 = time.monotonic()
    finally:
        watcher.cancel()
        for task in drains:
            task.cancel()
        for t in [*tabs, mine]:
            await t.close()
    return LoadResult(idle, loaded, seen_active, streamed, t1 - t0, counter.between(t0, t1), meter,
                      t3 - t2, counter.between(t2, t3))


def print_ui(result: LoadResult, per_user: int, processes: int, threads: int, tabs: int) -> None:
    print("\n2. UI round trip of another user (ChatState.set_drawer over the websocket -> its delta; prod app, "
          "2 Granian workers, Redis state)")
    print("   " + summary("idle (no jobs)", result.idle))
    if result.loaded:
        print("   " + summary(f"while {USERS} users' jobs run (active jobs median "
                              f"{statistics.median(result.active):g}; {per_user} per user, workers {processes} x "
                              f"{threads}; {result.streamed} websocket messages, progress and finished jobs, to "
                              f"their {USERS} tabs)",
                              result.loaded, "p95 <= 50 ms"))
        meter = result.meter
        used = ", ".join(f"{name} {cpu / meter.wall:.2f}" for name, cpu in meter.cpu.items())
        print(f"   CPU meanwhile, in cores of the machine's {os.cpu_count()}: {used}; all cores busy {meter.busy:.0%}, "
              f"other work included; load average {os.getloadavg()[0]:.1f}")
    else:
        print("   no round trip fell while jobs were active")
    seconds = result.window_s
    statements = result.statements
    print(f"\n3. PostgreSQL statements the app sent while that ran ({seconds:.1f} s, {tabs} tabs open, "
          f"SESSION_CHECK_S={_setting('session_check_s'):g}); grouped by what their transaction was for:")
    by_txn: dict[str, list[Statement]] = {}
    for s in statements:
        by_txn.setdefault(s.txn, []).append(s)
    for purpose, group in sorted(by_txn.items(), key=lambda kv: -len(kv[1])):
        queries = sum(1 for s in group if s.shape == purpose)
        print(f"   {len(group) / seconds:6.2f} statements/s ({queries / seconds:5.2f} queries/s): {purpose}")
    print_watcher("while the jobs run", statements, seconds, tabs)
    print(f"   all statements of the app: {len(statements) / seconds:.1f}/s")
    print_watcher(f"then, every job ended, the same {tabs} tabs open", result.quiet_statements, result.quiet_s, tabs)
    print(f"   all statements of the app: {len(result.quiet_statements) / result.quiet_s:.1f}/s\n"
          f"   Besides: one session re-check per tab every 30 s (REVALIDATE_S: {tabs / 30:.2f} queries/s for {tabs} "
          "tabs, not all inside a window) and two Redis reads per tick (revoked? the user's counter of ended jobs)")


def print_watcher(when: str, statements: list[Statement], seconds: float, tabs: int) -> None:
    """notifications.finished_since: only the session watcher asks it (one owner's jobs that ended since a moment),
    when a job of that owner ended or every notifications.BACKSTOP_S."""
    finished = {s.shape for s in statements if s.shape.startswith("SELECT generation_jobs+conversations")}
    queries = sum(1 for s in statements if s.shape in finished)
    round_trips = sum(1 for s in statements if s.txn in finished)
    print(f"   session watcher, {when} ({seconds:.1f} s): {queries / seconds:.2f} finished-job queries/s = "
          f"{queries / seconds / tabs:.3f} per tab, each in its own transaction: {round_trips / seconds:.1f} "
          "statements/s with the pool's pre-ping, BEGIN and COMMIT")


def _setting(name: str):
    from imagechat.settings import get_settings

    return getattr(get_settings(), name)


async def pinger(tab, ping: str, path: str, every: float, stop: asyncio.Event, before: int) -> list[float]:
    """Open loop, like a user clicking every `every` seconds whether or not the last click was answered: ping k's
    latency is the arrival of the first delta with pongs >= before + k minus when ping k was sent."""
    sent: list[float] = []
    latencies: dict[int, float] = {}

    async def receive() -> None:
        while True:
            msg = await tab.received.get()
            value = delta_value(msg, "pongs")
            if isinstance(value, int):
                for k in range(len(latencies) + 1, value - before + 1):
                    latencies[k] = (msg.at - sent[k - 1]) * 1000

    reader = asyncio.ensure_future(receive())
    try:
        while not stop.is_set():
            sent.append(await tab.send(ping, {}, path=path))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
        deadline = time.monotonic() + 30  # the last pings' answers
        while len(latencies) < len(sent) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
    finally:
        reader.cancel()
    return [latencies.get(k, float("inf")) for k in range(1, len(sent) + 1)]


async def blocking_design(base: str, handlers: dict[str, str], generations: int, ping_every: float,
                          pingers: int = 4, max_s: float = 240) -> tuple:
    """`generations` tabs each start one generation at once; `pingers` other tabs (Granian spreads connections over
    its workers, so each worker has some) ping every `ping_every` s until every generation has ended."""
    from tests.support.reflex_client import open_tab

    generate, ping = handlers["BlockingState.generate"], handlers["BlockingState.ping"]
    path = "/bench/blocking"
    users = [await open_tab(base, path=path) for _ in range(pingers)]
    idle, warm = [], 5
    for tab in users:
        idle += [await round_trip(tab, ping, {}, "pongs", k + 1, path=path) for k in range(warm)]
    tabs = [await open_tab(base, path=path) for _ in range(generations)]
    done: dict[int, float] = {}  # tab -> when its generation's delta arrived
    stop = asyncio.Event()

    async def wait_done(i: int, tab) -> None:
        while True:
            msg = await tab.received.get()
            if delta_value(msg, "done") == 1:
                done[i] = msg.at
                if len(done) == generations:
                    stop.set()
                return

    waiters = [asyncio.ensure_future(wait_done(i, t)) for i, t in enumerate(tabs)]
    try:
        for tab in tabs:
            await tab.send(generate, {}, path=path)
        t0 = time.monotonic()
        timer = asyncio.get_running_loop().call_later(max_s, stop.set)
        runs = await asyncio.gather(*(pinger(tab, ping, path, ping_every, stop, warm) for tab in users))
        timer.cancel()
        batch_s = (max(done.values()) if done else time.monotonic()) - t0
        dropped = sum(t.closed.is_set() for t in [*tabs, *users])
    finally:
        for w in waiters:
            w.cancel()
        for t in [*tabs, *users]:
            await t.close()
    return idle, runs, batch_s, sorted(at - t0 for at in done.values()), dropped


def print_blocking(idle: list[float], runs: list[list[float]], batch_s: float, done: list[float], dropped: int,
                   generations: int, every: float) -> None:
    print(f"\n4. the blocking design (/bench/blocking: a plain handler calling the synchronous OpenAI client, as the "
          f"reflex-dev/templates `dalle` app does), {generations} generations at once on the same fake:")
    print("   " + summary(f"ping round trip, idle ({len(runs)} tabs)", idle))
    if done:
        print(f"   {len(done)} of {generations} generations done, {batch_s:.1f} s for all; click -> done: first "
              f"{done[0]:.1f} s, median {statistics.median(done):.1f} s, last {done[-1]:.1f} s (the fake answers in "
              f"{LATENCY_S[0]:g}-{LATENCY_S[1]:g} s)")
    pings = [ms for run in runs for ms in run if ms != float("inf")]
    lost = sum(ms == float("inf") for run in runs for ms in run)
    if pings:
        print("   " + summary(f"ping round trip while they run ({len(runs)} tabs, one ping every {every:g} s each, "
                              "not waiting for answers)", pings) + f"; max {max(pings) / 1000:.1f} s")
        for k, run in enumerate(runs, 1):
            answered = [ms for ms in run if ms != float("inf")] or [0.0]
            print(f"   tab {k}: {len(run)} pings, p50 {statistics.median(answered):.0f} ms, max "
                  f"{max(answered) / 1000:.1f} s, {sum(ms > 1000 for ms in run)} over 1 s")
    if lost or dropped:
        print(f"   {lost} pings not answered within 30 s of the end; {dropped} of {generations + len(runs)} "
              "websockets closed by the server")


# ------------------------------------------------------------------ main


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3, help="batches per worker row (median)")
    parser.add_argument("--jobs", type=int, default=USERS, help="jobs per batch (spread over 20 users)")
    parser.add_argument("--threads", type=int, default=2, help="threads per worker process (WORKER_THREADS)")
    parser.add_argument("--max-processes", type=int, default=3)
    parser.add_argument("--round-trips", type=int, default=100, help="UI round trips under load")
    parser.add_argument("--per-user", type=int, default=4, help="phase 2: jobs per user in their conversation")
    parser.add_argument("--ui-processes", type=int, default=3)
    parser.add_argument("--ui-threads", type=int, default=7, help="phase 2: 3 x 7 = every user's job runs at once")
    parser.add_argument("--skip", default="", help="comma-separated phases to skip: throughput,ui,blocking")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    # SIGTERM ends the run like Ctrl-C: every context below stops what it started.
    signal.signal(signal.SIGTERM, _interrupt)
    os.environ["IMAGECHAT_BENCH_PAGES"] = "1"  # this process introspects the same handlers the app serves
    t_start = time.monotonic()
    limits = dict(rate_limit="100000/minute", user_daily_budget_usd=100000, user_monthly_budget_usd=100000,
                  global_monthly_budget_usd=1000000, request_cache_hours=0, signup_limit_per_address="1000/minute",
                  login_limit_per_address="1000/minute")
    with tempfile.TemporaryDirectory() as tmp, fake_openai(Path(tmp)) as (fake_url, fake_pid):
        key = "sk-bench-" + uuid.uuid4().hex
        with environment(image_engine="openai", openai_api_key=key, openai_base_url=fake_url, **limits):
            from imagechat.settings import get_settings

            settings = get_settings()
            print(f"engine: {settings.resolved_engine()} {settings.openai_image_model} on the fake at "
                  f"{LATENCY_S[0]:g}-{LATENCY_S[1]:g} s; OPENAI_PARTIAL_IMAGES={settings.openai_partial_images}; "
                  f"MAX_JOBS_IN_FLIGHT_PER_USER={settings.max_jobs_in_flight_per_user}; "
                  f"WORKER_THREADS default {settings.worker_threads}; {os.cpu_count()} cores, load average "
                  f"{os.getloadavg()[0]:.1f}", flush=True)
            owners = [make_user() for _ in range(USERS)]
            logdir = Path(tmp)
            if "throughput" not in skip:
                rows = [(p, args.threads) for p in range(1, args.max_processes + 1)]
                if args.max_processes > 1:  # the same concurrency from threads of one process
                    rows.append((1, args.max_processes * args.threads))
                print_throughput(throughput(owners, rows, args.jobs, args.runs, logdir, fake_pid), args.jobs)
            if not {"ui", "blocking"} <= skip:
                run_app(args, skip, owners, logdir, key, fake_url, fake_pid)
    print(f"\ntotal {time.monotonic() - t_start:.0f} s")


def run_app(args, skip: set[str], owners: list[int], logdir: Path, key: str, fake_url: str, fake_pid: int) -> None:
    from tests.support.reflex_client import list_event_handlers, run_async

    # Imported here, in this thread's context: run_async copies it, with the app's state registry, into each run.
    handlers = {h.short: h.name for h in list_event_handlers()}
    logging.getLogger("imagechat").setLevel(logging.WARNING)  # importing the app set up its INFO logs here

    db = make_url(os.environ["DATABASE_URL"])
    with StatementCounter(db.host or "127.0.0.1", db.port or 5432) as counter, \
            app_server(logdir, image_engine="openai", openai_api_key=key, openai_base_url=fake_url,
                       database_url=counter.url(os.environ["DATABASE_URL"])) as base:
        if "ui" not in skip:
            me = make_user()
            env = worker_env(os.environ["DATABASE_URL"], os.environ["REDIS_URL"])
            worker = WorkerProcess(logdir / "worker-ui.log", env, args.ui_processes, args.ui_threads)
            try:
                sessions = {"app": session_serving(urlsplit(base).port), "workers": worker.proc.pid, "fake": fake_pid}
                result = run_async(ui_under_load, base, handlers, owners, me, args.per_user, args.round_trips,
                                   counter, sessions)
            finally:
                worker.stop()
            print_ui(result, args.per_user, args.ui_processes, args.ui_threads, USERS + 1)
        if "blocking" not in skip:
            print_blocking(*run_async(blocking_design, base, handlers, USERS, 0.25), USERS, 0.25)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted; everything this run started was stopped")
