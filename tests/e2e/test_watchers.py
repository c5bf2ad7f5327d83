"""Hardening point 2: live progress costs one watcher per tab, whatever clients send.

1,000 anonymous and 1,000 signed-in calls (in two rounds) of `ChatState.watch_jobs` over the real prod app's
websocket: the number of Redis connections and of progress subscriptions stays bounded (one subscription per job and app
process, shared by every watcher in it), the tab still gets its progress exactly once per event, the app still
answers, and the watcher (with its subscription) ends when the tab disconnects."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis

from imagechat.core import conversations, progress
from imagechat.core.progress import ProgressEvent
from imagechat.db import session_scope
from imagechat.models import GenerationJob, JobStatus, Role, utcnow
from imagechat.settings import get_settings
from tests.support.reflex_client import cookie_storage_vars, list_event_handlers, open_tab, run_async
from tests.support.services import create_user, http_ok

pytestmark = pytest.mark.e2e

SESSION_COOKIE = "imagechat_session"
CALLS = 500  # per round and identity: two rounds make 1,000 signed-in and 1,000 anonymous calls
ANONYMOUS_TABS = 10


def _running_job(owner: int) -> str:
    """A job that stays "running" for the test (no worker has it; recovery would requeue it only after
    JOB_STALE_AFTER_S), shown in the owner's conversation like any job."""
    conv = conversations.create(owner)
    with session_scope() as s:
        job = GenerationJob(owner_id=owner, conversation_id=conv.id, engine="offline", prompt="a lighthouse",
                            status=JobStatus.RUNNING, attempts=1, stage="Painting", started_at=utcnow(),
                            heartbeat_at=utcnow(), params={"width": 256, "height": 256, "n": 1})
        s.add(job)
        s.flush()
        job_id = job.id
    conversations.add_message(owner, conv.id, Role.USER, "a lighthouse")
    conversations.add_message(owner, conv.id, Role.ASSISTANT, "Generating...", job_id=job_id)
    return str(job_id)


def _subscribers(client: redis.Redis, job_id: str) -> int:
    return int(client.pubsub_numsub(progress.channel(job_id))[0][1])


def test_watchers_stay_one_per_tab_and_end_with_it(app_server):
    from imagechat.core import auth

    handlers = {h.short: h.name for h in list_event_handlers()}
    handler, set_drawer = handlers["ChatState.watch_jobs"], handlers["ChatState.set_drawer"]
    owner = create_user()
    job_id = _running_job(owner)
    token = auth.start_session(owner)[1]
    cookies = {SESSION_COOKIE: token}
    r = redis.Redis.from_url(get_settings().redis_url)

    async def scenario() -> dict:
        baseline = len(r.client_list())
        tab = await open_tab(app_server, cookies=cookies, storage_vars=cookie_storage_vars(cookies))
        await tab.collect(quiet=0.5, max_wait=5)
        watching = _subscribers(r, job_id)
        anonymous = [await open_tab(app_server) for _ in range(ANONYMOUS_TABS)]
        rounds = []
        for _ in range(2):  # the second round must not need more than the first: nothing grows per call
            started = time.monotonic()
            for i in range(CALLS):
                await tab.send(handler)
                await anonymous[i % ANONYMOUS_TABS].send(handler)
            burst_s = time.monotonic() - started
            await asyncio.sleep(1.5)
            rounds.append({"clients": len(r.client_list()), "subscribers": _subscribers(r, job_id),
                           "ping": await asyncio.to_thread(http_ok, f"{app_server}/ping"), "burst_s": burst_s})
        for other in anonymous:
            await other.close()

        # Wait until the tab has worked through the flood: a foreground event queued behind it answers.
        await tab.send(set_drawer, {"open_": True})
        # (The flood slows only this tab: Reflex handles a tab's events one after another.)
        settled = await tab.collect(quiet=0.3, max_wait=120, until=lambda m: "drawer_open" in m.text)
        result_settle = time.monotonic() - started
        still_watching = _subscribers(r, job_id)
        await asyncio.to_thread(progress.publish, ProgressEvent(job_id=job_id, status=JobStatus.RUNNING,
                                                                percent=42, stage="Watched once"))
        published = time.monotonic()
        got = await tab.collect(quiet=0.5, max_wait=20, until=lambda m: "Watched once" in m.text)
        seen_after_s = next((m.at - published for m in got.messages if "Watched once" in m.text), None)
        seen = got.text.count("Watched once")

        await tab.close()
        deadline = time.monotonic() + 10
        while _subscribers(r, job_id) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        return {"baseline": baseline, "watching": watching, "rounds": rounds, "seen": seen,
                "settled": settled.until_met, "settled_after_s": result_settle, "still_watching": still_watching,
                "seen_after_s": seen_after_s, "tab_closed": tab.close_reason,
                "after_close": _subscribers(r, job_id), "closed_in": 10 - max(0.0, deadline - time.monotonic())}

    result = run_async(scenario)
    print(f"\n[watchers] {result}")
    first, second = result["rounds"]
    assert result["watching"] == 1, "the tab's running job is followed through one subscription"
    assert first["subscribers"] <= 2 and second["subscribers"] <= 2, "the calls added no subscriptions"
    # Reflex's own connection pool grows with how many events it handles at once, not with how many come:
    # a second round of 1,000 calls needs no more connections than the first.
    assert second["clients"] <= first["clients"] + 5, "Redis connections grew with the number of calls"
    assert first["clients"] <= result["baseline"] + 100
    assert first["ping"] and second["ping"]
    assert result["settled"], "the tab worked through the calls"
    assert result["seen"] == 1, "the event reached the tab exactly once: one watcher"
    assert result["after_close"] == 0, "the watcher ended with its tab"
