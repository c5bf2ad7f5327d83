"""Many hosts on one machine: two app processes and three workers sharing one PostgreSQL and one Redis.

What docs/deploy.md promises for several hosts, exercised with the real parts: two `reflex run --env prod`
processes on different ports (each with its own build, since a build bakes its port into the page), both
with the same DATABASE_URL, the same REFLEX_REDIS_URL (Reflex's UI state) and the same REDIS_NAMESPACE (queue,
progress, limits), plus three Dramatiq worker processes on that namespace. Cookies belong to the host, not the
port, so one browser's session goes to both processes, as behind a load balancer; each page loads its files from
the process that served it (two builds name their files differently: docs/deploy.md, on sticky sessions).

- A session made on one app process works on the other (same account, same conversations, same images), a job
  sent from one shows up on the other after a reload, and logging out on one ends the tab on the other.
- Four users on both app processes send eight large jobs at once; one worker is killed (SIGKILL) while every
  worker is busy. Every job still ends exactly once in PostgreSQL (its images stored once, one ledger entry),
  every progress event published for it reaches a subscriber in order with no gap in its sequence numbers
  and one terminal event, and every tab shows live progress and then the images, on whichever app process
  holds its websocket.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import func
from sqlmodel import select

from imagechat.core.auth import SESSION_COOKIE
from tests.e2e.conftest import running_app
from tests.e2e.helpers import SUNSET, send, sign_up
from tests.support.own_database import own_database
from tests.support.services import WorkerGroup, WorkerProcess

pytestmark = pytest.mark.e2e

STALE_AFTER_S = 8  # a killed worker's running job is requeued this long after its last heartbeat (every 2 s)
SUBJECTS = (
    "a city skyline at night", "a lighthouse by a stormy sea", "a forest of trees at dawn",
    "mountains with a lake at sunset", "a harbour with boats at dusk", "dunes under a starry night",
    "a snowy village at night", "a meadow with flowers on a foggy morning",
)
# Records the highest percentage any progress bar of the tab ever showed (the bar is gone once the job is done).
PROGRESS_RECORDER = """
window.__maxPercent = -1;
new MutationObserver(() => {
  for (const el of document.querySelectorAll('.job-percent')) {
    const value = parseFloat(el.textContent);
    if (!Number.isNaN(value) && value > window.__maxPercent) window.__maxPercent = value;
  }
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


@dataclass
class Cluster:
    app_a: str
    app_b: str
    workers: list[WorkerProcess]
    namespace: str


class BusRecorder:
    """Every progress event published in the namespace, as a subscriber of its own sees it (Redis PSUBSCRIBE)."""

    def __init__(self, url: str, namespace: str):
        self.events: dict[str, list[dict]] = defaultdict(list)
        self._client = redis.Redis.from_url(url)
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        self._pubsub.psubscribe(f"{namespace}:progress:*")
        self._pubsub.get_message(timeout=5)  # the subscription is live before any job exists
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            message = self._pubsub.get_message(timeout=0.2)
            if message and message["type"] == "pmessage":
                event = json.loads(message["data"])
                with self._lock:
                    self.events[event["job_id"]].append(event)

    def of(self, job_id: str) -> list[dict]:
        with self._lock:
            return list(self.events.get(job_id, []))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._pubsub.close()
        self._client.close()


@pytest.fixture(scope="module")
def cluster(database_url, redis_url, tmp_path_factory):
    """One deployment: its own database (PostgreSQL is a deployment's truth: the session's e2e worker, on another
    Redis namespace, would otherwise take this cluster's queued jobs for lost ones and run them itself, and this
    cluster's recovery would repair other tests' jobs) and its own Redis namespace. The test reads it too."""
    namespace = f"e2e-hosts-{uuid.uuid4().hex[:6]}"
    settings = dict(image_engine="offline", redis_namespace=namespace, job_stale_after_s=STALE_AFTER_S,
                    request_cache_hours=0)  # every request is a new job, never an answer from the library
    with own_database("imagechat_hosts") as hosts_db:
        group = WorkerGroup(hosts_db, redis_url, tmp_path_factory.mktemp("many-hosts"))
        try:
            yield from _cluster(group, hosts_db, redis_url, namespace, settings)
        finally:
            group.stop_all()
            client = redis.Redis.from_url(redis_url)
            for key in client.scan_iter(match=f"{namespace}:*", count=1000):
                client.delete(key)
            client.close()


def _cluster(group: WorkerGroup, database_url: str, redis_url: str, namespace: str, settings: dict):
    # running_app starts one worker with each app (through group.start); the third comes after.
    with running_app("hosts-a", database_url, redis_url, group.start, **settings) as app_a, \
            running_app("hosts-b", database_url, redis_url, group.start, **settings) as app_b:
        group.start(processes=1, threads=2, **settings)
        assert len(group.started) == 3
        yield Cluster(app_a, app_b, group.started, namespace)


def _user_id(username: str) -> int:
    from imagechat.db import session_scope
    from imagechat.models import User

    with session_scope() as s:
        return s.exec(select(User.id).where(User.username == username)).one()


def _image_src(page: Page, replies: int) -> str:
    """The image of the tab's reply number `replies` (1-based), once it is the last one and done."""
    expect(page.locator(".assistant-message")).to_have_count(replies)
    reply = page.locator(".assistant-message").last
    expect(reply.locator(".job-done")).to_be_visible(timeout=60_000)
    image = reply.locator("img.generated-image")
    expect(image).to_have_count(1)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    return image.get_attribute("src")


def _status(url: str, cookie: dict) -> int:
    request = urllib.request.Request(url, headers={"Cookie": f"{cookie['name']}={cookie['value']}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_session_made_on_one_app_process_works_on_the_other(browser: Browser, cluster: Cluster):
    a, b = cluster.app_a, cluster.app_b
    alice_ctx = browser.new_context(base_url=a)
    bob_ctx = browser.new_context(base_url=b)
    try:
        on_a = alice_ctx.new_page()
        alice = sign_up(on_a)  # on app process A
        send(on_a, SUNSET)
        src_a = _image_src(on_a, 1)

        on_b = alice_ctx.new_page()  # the same browser, the other app process: the cookie goes along
        on_b.goto(f"{b}/")
        expect(on_b.locator("#user-menu")).to_contain_text(alice)
        assert _image_src(on_b, 1) == src_a  # the job sent through A, shown by B
        assert on_b.locator("#conversation-list").inner_text() == on_a.locator("#conversation-list").inner_text()

        send(on_b, "/imagine a red boat on a calm lake")
        src_b = _image_src(on_b, 2)
        assert src_b != src_a
        on_a.reload()  # A shows the job sent through B once reloaded
        assert _image_src(on_a, 2) == src_b

        # Image routes: the owner's cookie works on either process, another user gets 404 from both.
        bob_page = bob_ctx.new_page()
        sign_up(bob_page)
        for base in (a, b):
            assert on_a.request.get(f"{base}{src_b}").status == 200
            assert bob_page.request.get(f"{base}{src_b}").status == 404

        # Logging out through B ends the session everywhere: A's open tab returns to the log-in page, and the
        # old cookie (replayed by hand: the browser dropped it) opens nothing on either process.
        cookie = next(c for c in alice_ctx.cookies() if c["name"] == SESSION_COOKIE)
        assert _status(f"{a}{src_b}", cookie) == _status(f"{b}{src_b}", cookie) == 200
        on_b.locator("#user-menu").click()
        on_b.locator("#log-out").click()
        expect(on_b).to_have_url(re.compile(r"/login$"))
        expect(on_a).to_have_url(re.compile(r"/login\?error=session_ended$"), timeout=20_000)
        assert _status(f"{a}{src_b}", cookie) == _status(f"{b}{src_b}", cookie) == 401
    finally:
        alice_ctx.close()
        bob_ctx.close()


@dataclass
class _Tab:
    page: Page
    user: str


def _running_jobs(owner_ids: list[int]) -> int:
    from imagechat.db import session_scope
    from imagechat.models import GenerationJob

    with session_scope() as s:
        return s.exec(select(func.count()).select_from(GenerationJob).where(
            GenerationJob.owner_id.in_(owner_ids), GenerationJob.status == "running")).one()


def _group_cpu_s(pgid: int) -> float:
    """CPU seconds used so far by the processes of one process group (a worker and its children)."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        if int(fields[2]) == pgid:  # pgrp; utime and stime follow at 11 and 12
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _busy_workers(workers: list[WorkerProcess], window_s: float = 0.5) -> list[WorkerProcess]:
    """The workers that used at least a third of a core over `window_s`, busiest first."""
    before = [_group_cpu_s(w.proc.pid) for w in workers]
    time.sleep(window_s)
    used = [_group_cpu_s(w.proc.pid) - b for w, b in zip(workers, before, strict=True)]
    order = sorted(range(len(workers)), key=lambda i: -used[i])
    return [workers[i] for i in order if used[i] >= window_s / 3]


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.2)


def test_jobs_from_both_app_processes_end_exactly_once_when_a_worker_dies(browser: Browser, cluster: Cluster,
                                                                         redis_url: str):
    from imagechat.db import session_scope
    from imagechat.models import TERMINAL, GenerationJob, Image, UsageEntry

    bus = BusRecorder(redis_url, cluster.namespace)
    contexts, tabs = [], []
    try:
        for base in (cluster.app_a, cluster.app_b, cluster.app_a, cluster.app_b):
            ctx = browser.new_context(base_url=base)
            ctx.add_init_script(PROGRESS_RECORDER)
            contexts.append(ctx)
            page = ctx.new_page()
            tabs.append(_Tab(page, sign_up(page)))
        owners = [_user_id(tab.user) for tab in tabs]

        # Two large jobs per user (MAX_JOBS_IN_FLIGHT_PER_USER): four at once, then four more as soon as each tab
        # may send again (its first turn saved and its job shown: "Wait for the answer to your last message").
        for round_ in range(2):
            for i, tab in enumerate(tabs):
                send(tab.page, f"draw 4 wide images of {SUBJECTS[2 * i + round_]}")
            for tab in tabs:
                reply = tab.page.locator(".assistant-message").nth(round_)
                expect(reply.locator(".job-progress").or_(reply.locator(".job-done")).first).to_be_visible(
                    timeout=60_000)

        def jobs_of_owners() -> list[str]:
            with session_scope() as s:
                return [str(j) for j in s.exec(select(GenerationJob.id).where(GenerationJob.owner_id.in_(owners)))]

        _wait(lambda: len(jobs_of_owners()) >= 8, 60, "the eight job rows")
        # Kill a worker that is painting right now (the offline engine is CPU-bound: its processes burn CPU), so
        # the recovery path is exercised whatever the machine's speed.
        busy: list[WorkerProcess] = []

        def one_is_busy() -> bool:
            busy[:] = _busy_workers(cluster.workers) if _running_jobs(owners) else []
            return bool(busy)

        _wait(one_is_busy, 120, "a worker busy with a job")
        victim = busy[0]
        victim.kill()
        job_ids = jobs_of_owners()
        assert len(job_ids) == 8

        def all_ended() -> bool:
            with session_scope() as s:
                statuses = s.exec(select(GenerationJob.status).where(GenerationJob.owner_id.in_(owners))).all()
            return all(status in TERMINAL for status in statuses)

        _wait(all_ended, 240, "all eight jobs to end")

        # PostgreSQL: each job succeeded once, with its four images stored once and one settled ledger entry.
        with session_scope() as s:
            jobs = {str(j.id): j for j in s.exec(select(GenerationJob).where(GenerationJob.owner_id.in_(owners)))}
            images = s.exec(select(Image.job_id, Image.index_in_job).where(Image.owner_id.in_(owners))).all()
            ledger = s.exec(select(UsageEntry.job_id, UsageEntry.status).where(
                UsageEntry.owner_id.in_(owners))).all()
        assert {j: job.status for j, job in jobs.items()} == dict.fromkeys(job_ids, "succeeded")
        per_job = defaultdict(list)
        for job_id, index in images:
            per_job[str(job_id)].append(index)
        assert {j: sorted(ix) for j, ix in per_job.items()} == {j: [0, 1, 2, 3] for j in job_ids}
        assert sorted((str(j), st) for j, st in ledger) == sorted((j, "charged") for j in job_ids)
        retried = [j for j, job in jobs.items() if job.attempts > 1]
        assert retried, "no job was running on the killed worker: the recovery path was not exercised"

        # The progress bus: for every job, the events a subscriber saw are numbered without a gap, in order,
        # with exactly one terminal event, the last one, and it is the latest state kept in Redis.
        # A worker publishes the final event just after committing the job's end, so the rows can be read a
        # moment before the bus carries it.
        _wait(lambda: all(any(e["status"] in TERMINAL for e in bus.of(j)) for j in job_ids), 30,
              "every job's final progress event on the bus")
        client = redis.Redis.from_url(redis_url)
        try:
            for job_id in job_ids:
                events = bus.of(job_id)
                assert events, f"no progress event of job {job_id} reached the subscriber"
                seqs = [e["seq"] for e in events]
                assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), (job_id, seqs)
                assert [e["status"] for e in events if e["status"] in TERMINAL] == ["succeeded"], job_id
                assert events[-1]["status"] == "succeeded" and len(events[-1]["image_ids"]) == 4
                assert any(e["status"] == "running" and e["percent"] > 0 for e in events), job_id
                latest = json.loads(client.get(f"{cluster.namespace}:progress:latest:{job_id}"))
                assert latest["seq"] == seqs[-1]
        finally:
            client.close()
        counts = sorted(len(bus.of(j)) for j in job_ids)

        # Every tab, on either app process, saw live progress and then all its images, without a reload.
        for tab in tabs:
            replies = tab.page.locator(".assistant-message")
            expect(replies.locator(".job-done")).to_have_count(2, timeout=30_000)
            images_shown = tab.page.locator("img.generated-image")
            expect(images_shown).to_have_count(8)
            assert tab.page.evaluate("window.__maxPercent") > 0, f"{tab.user}'s tab never showed progress"
            for src in [images_shown.nth(i).get_attribute("src") for i in range(8)]:
                response = tab.page.request.get(src)
                assert response.status == 200 and response.headers["content-type"].startswith("image/"), src
        print(f"\n[many-hosts] 8 jobs, {len(retried)} retried after the kill; progress events per job "
              f"min {counts[0]} / max {counts[-1]}, {sum(counts)} in all, none missing")
    finally:
        bus.close()
        for ctx in contexts:
            ctx.close()
