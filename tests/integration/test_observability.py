"""/healthz, /readyz and /metrics (api/health.py, core/health.py, core/metrics.py) on the real PostgreSQL, Redis and
workers, with a database of this module's own (so the server-wide figures move only by what each test does):
readiness follows the worker, Redis and PostgreSQL; the metrics move by exactly what real jobs did; only an
administrator or this machine may read them."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from contextlib import closing
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString
from sqlmodel import select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from imagechat.api import health as health_api
from imagechat.core import auth, chat, conversations, jobs, progress
from imagechat.core.metrics import GENERATION_BOUNDS
from imagechat.core.progress import ProgressEvent, Subscriber
from imagechat.core.redis_client import async_client
from imagechat.core.redis_client import client as redis_client
from imagechat.core.redis_histogram import RedisHistogram
from imagechat.core.request import ImageRequest
from imagechat.db import session_scope
from imagechat.models import GenerationJob, UsageEntry, User, utcnow
from imagechat.settings import get_settings
from tests.support.own_database import own_database, reset_caches
from tests.support.services import WorkerGroup, create_user
from tests.support.waiting import finish, wait_until

LOCAL, REMOTE = ("127.0.0.1", 40000), ("203.0.113.7", 40000)


@pytest.fixture(scope="module")
def module_database(database_url, redis_url):
    with own_database("imagechat_observability") as url:
        yield url


@pytest.fixture
def env(module_database, monkeypatch):
    """Change settings for one test (the caches follow; the module's database is back afterwards)."""
    def apply(**values):
        for key, value in values.items():
            monkeypatch.setenv(key.upper(), str(value))
        reset_caches()

    yield apply
    monkeypatch.undo()
    reset_caches()


@pytest.fixture
def workers(module_database, redis_url, tmp_path):
    group = WorkerGroup(module_database, redis_url, tmp_path)
    yield group
    group.stop_all()


def _app(peer=LOCAL, **kw) -> TestClient:
    return TestClient(Starlette(routes=health_api.routes), client=peer, **kw)


def _closed_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ready() -> tuple[int, dict]:
    with _app() as c:
        r = c.get("/readyz")
    assert r.headers["cache-control"] == "no-store" and r.headers["content-type"] == "application/json"
    return r.status_code, r.json()


Samples = dict[tuple[str, frozenset], float]


def _scrape() -> Samples:
    with _app() as c:
        r = c.get("/metrics")
    assert r.status_code == 200, r.text
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def _value(samples: Samples, name: str, default: float | None = None, **labels) -> float:
    key = (name, frozenset(labels.items()))
    if default is not None:
        return samples.get(key, default)
    assert key in samples, f"{name}{labels} missing from the scrape"
    return samples[key]


def _delta(before: Samples, after: Samples, name: str, **labels) -> float:
    return _value(after, name, **labels) - _value(before, name, 0.0, **labels)


# ---------------------------------------------------------------- /healthz and /readyz


def test_healthz_answers_without_touching_postgres_or_redis(env):
    env(database_url=f"postgresql+psycopg://127.0.0.1:{_closed_port()}/nothing",
        redis_url=f"redis://127.0.0.1:{_closed_port()}/0")
    with _app(REMOTE) as c:
        r = c.get("/healthz")
        head = c.head("/healthz")
    assert (r.status_code, r.json(), r.headers["cache-control"]) == (200, {"status": "ok"}, "no-store")
    assert head.status_code == 200


def test_readyz_needs_a_live_worker(env, private_namespace, workers):
    worker_env = private_namespace()  # no worker reports in this namespace yet
    status, body = _ready()
    assert status == 503
    assert body == {"status": "not ready", "checks": {"postgres": "ok", "redis": "ok", "workers": "none alive"}}

    worker = workers.start(**worker_env)
    status, body = wait_until(lambda: (r := _ready())[0] == 200 and r, 15, "readyz to see the worker")
    assert body == {"status": "ready", "checks": {"postgres": "ok", "redis": "ok", "workers": "ok"}}

    worker.stop()  # its last report ages out after a few seconds
    status, body = wait_until(lambda: (r := _ready())[0] == 503 and r, 20, "readyz to miss the worker")
    assert body["checks"] == {"postgres": "ok", "redis": "ok", "workers": "none alive"}


def test_readyz_says_which_service_is_down_and_nothing_more(env, private_namespace, redis_url):
    private_namespace()
    queue_port, db_port = _closed_port(), _closed_port()
    env(redis_url=f"redis://127.0.0.1:{queue_port}/0")
    status, body = _ready()
    assert status == 503
    assert body == {"status": "not ready", "checks": {"postgres": "ok", "redis": "unavailable", "workers": "unknown"}}

    env(redis_url=redis_url, database_url=f"postgresql+psycopg://127.0.0.1:{db_port}/secretdb")
    status, body = _ready()
    assert status == 503
    assert body["checks"] == {"postgres": "unavailable", "redis": "ok", "workers": "none alive"}
    assert str(db_port) not in str(body) and "secretdb" not in str(body)


def test_readyz_gives_up_on_a_service_that_hangs(env, private_namespace):
    """Something that accepts connections and never answers: readyz says 'timeout' instead of hanging."""
    private_namespace()
    with closing(socket.socket()) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # never accepted, never answered
        env(redis_url=f"redis://127.0.0.1:{silent.getsockname()[1]}/0")
        status, body = _ready()
    # Closing the socket resets the connection, which frees the check's thread.
    assert status == 503 and body["checks"] == {"postgres": "ok", "redis": "timeout", "workers": "unknown"}


# ---------------------------------------------------------------- /metrics from real jobs


def _durations(job_ids) -> list[float]:
    with session_scope() as s:
        rows = s.exec(select(GenerationJob.started_at, GenerationJob.finished_at)
                      .where(GenerationJob.id.in_(job_ids))).all()
    return [(done - started).total_seconds() for started, done in rows]


def test_metrics_follow_real_offline_jobs_exactly(env, private_namespace, workers):
    worker_env = private_namespace(max_jobs_in_flight_per_user=2)
    owner = create_user("metrics")
    before = _scrape()
    assert _value(before, "imagechat_workers_alive") == 0
    assert _value(before, "imagechat_metrics_source_up", source="postgres") == 1
    assert _value(before, "imagechat_metrics_source_up", source="redis") == 1

    ids = [jobs.submit(owner, ImageRequest(prompt=f"a lighthouse at dusk {i}", width=256, height=256))
           for i in range(3)]
    waiting = _scrape()
    assert _delta(before, waiting, "imagechat_jobs", status="queued") == 3
    assert _delta(before, waiting, "imagechat_queue_depth") == 3
    assert _delta(before, waiting, "imagechat_queue_held") == 1  # the owner's third job waits for a free slot
    with session_scope() as s:
        oldest = min(s.get(GenerationJob, i).created_at for i in ids)
    age = _value(waiting, "imagechat_queue_oldest_age_seconds")
    assert 0 < age <= (utcnow() - oldest).total_seconds()

    workers.start(**worker_env)
    assert [finish(i).status for i in ids] == ["succeeded"] * 3
    after = wait_until(lambda: (m := _scrape())[("imagechat_workers_alive", frozenset())] == 1 and m, 10,
                       "the worker's report")
    assert _delta(before, after, "imagechat_jobs", status="succeeded") == 3
    assert _delta(before, after, "imagechat_jobs", status="queued") == 0
    assert _value(after, "imagechat_queue_depth") == 0 and _value(after, "imagechat_queue_oldest_age_seconds") == 0
    for status in ("running", "failed", "cancelled"):
        assert _delta(before, after, "imagechat_jobs", status=status) == 0

    durations = _durations(ids)
    hist = "imagechat_generation_seconds"
    assert _delta(before, after, hist + "_count", engine="offline") == 3
    assert _delta(before, after, hist + "_sum", engine="offline") == pytest.approx(sum(durations), abs=1e-5)
    for bound in GENERATION_BOUNDS:
        expected = sum(d <= bound for d in durations)
        assert _delta(before, after, hist + "_bucket", engine="offline", le=floatToGoString(bound)) == expected
    assert _delta(before, after, hist + "_bucket", engine="offline", le="+Inf") == 3

    with session_scope() as s:
        model = s.get(GenerationJob, ids[0]).model
    assert _delta(before, after, "imagechat_cost_usd_total", engine="offline", model=model) == 0  # free engine
    assert _value(after, "imagechat_cost_reserved_usd", engine="offline", model=model) == 0  # all settled


def test_generation_buckets_include_their_upper_bound(env, private_namespace):
    """Seeded durations on and just past bucket bounds land where Prometheus says (le = less or equal)."""
    private_namespace()
    owner, engine, start = create_user("bounds"), f"e-{uuid.uuid4().hex[:8]}", utcnow()
    with session_scope() as s:
        for seconds in (0.0, 0.25, 1.0, 1.000001, 300.0, 301.0):
            s.add(GenerationJob(owner_id=owner, engine=engine, prompt="x", status="succeeded", started_at=start,
                                finished_at=start + timedelta(seconds=seconds)))
        s.add(GenerationJob(owner_id=owner, engine=engine, prompt="x", status="failed", started_at=start,
                            finished_at=start + timedelta(seconds=3)))  # only succeeded jobs count
    samples = _scrape()
    buckets = {le: _value(samples, "imagechat_generation_seconds_bucket", engine=engine, le=le)
               for le in ("0.25", "0.5", "1.0", "2.0", "300.0", "+Inf")}
    assert buckets == {"0.25": 2, "0.5": 2, "1.0": 3, "2.0": 4, "300.0": 5, "+Inf": 6}
    assert _value(samples, "imagechat_generation_seconds_count", engine=engine) == 6
    assert _value(samples, "imagechat_generation_seconds_sum", engine=engine) == pytest.approx(603.250001)


def test_cost_and_library_answers_from_the_openai_engine(env, private_namespace, workers, clean_fake):
    worker_env = private_namespace(image_engine="openai", openai_api_key=f"sk-test-{uuid.uuid4().hex}",
                                   openai_base_url=clean_fake.base_url, openai_max_retries=1, openai_partial_images=1)
    workers.start(**worker_env)
    parser_only = get_settings().model_copy(update={"openai_api_key": None})  # the parser reads the words

    def say(text: str) -> chat.Turn:
        return asyncio.run(chat.respond(owner, conv.id, text, settings=parser_only))

    owner = create_user("spender")
    conv = conversations.create(owner)
    before = _scrape()
    first = say("Create an image of a red boat on a calm lake")
    assert finish(first.job_id, 120).status == "succeeded"
    again = say("create an image of a red boat on a calm lake")
    assert again.from_library and again.job_id is None
    after = _scrape()

    with session_scope() as s:
        job = s.get(GenerationJob, first.job_id)
        charged = s.exec(select(UsageEntry.amount_usd).where(UsageEntry.job_id == job.id)).one()
    assert job.cost_usd > 0 and charged == job.cost_usd
    labels = {"engine": "openai", "model": job.model}
    assert _delta(before, after, "imagechat_cost_usd_total", **labels) == pytest.approx(job.cost_usd, abs=1e-9)
    assert _value(after, "imagechat_cost_reserved_usd", **labels) == 0
    assert _delta(before, after, "imagechat_library_answers_total") == 1
    assert _delta(before, after, "imagechat_library_saved_usd_total") == pytest.approx(job.cost_usd, abs=1e-9)
    assert _delta(before, after, "imagechat_jobs", status="succeeded") == 1  # the library answer ran no job


# ---------------------------------------------------------------- progress fan-out latency


async def test_fanout_latency_counts_each_live_delivery_once(env, private_namespace):
    private_namespace()
    job = str(uuid.uuid4())
    before = await asyncio.to_thread(_scrape)
    started = time.time()
    async with Subscriber() as sub:
        await sub.add(job)
        for pct in (10, 20, 30, 40, 50):
            await asyncio.to_thread(progress.publish, ProgressEvent(job_id=job, status="running", percent=pct))
        got = [await sub.get(timeout=5) for _ in range(5)]
        assert [e.percent for e in got] == [10, 20, 30, 40, 50] and all(e.live for e in got)
        await sub.delivered(got)
        async with Subscriber() as late:  # a reloaded tab: gets the stored latest event, which is no fan-out
            await late.add(job)
            replayed = await late.get(timeout=5)
            assert replayed.percent == 50 and not replayed.live
            await late.delivered([replayed])
        delivered = time.time()
    after = await asyncio.to_thread(_scrape)
    name = "imagechat_progress_fanout_seconds"
    assert _delta(before, after, name + "_count") == 5
    assert _delta(before, after, name + "_bucket", le="+Inf") == 5
    # Each of the five took more than nothing and less than the whole exchange.
    assert 0 < _delta(before, after, name + "_sum") <= 5 * (delivered - started)


async def test_redis_histogram_buckets_are_cumulative_and_exact(private_namespace):
    private_namespace()
    hist = RedisHistogram(f"test_{uuid.uuid4().hex[:6]}", (0.01, 0.1, 1.0))
    aclient = async_client()
    try:
        await hist.observe(aclient, [0.01, 0.05, 0.1, 0.5, 7.0, -3.0])  # a bound counts in its own bucket
        await hist.observe(aclient, [])
    finally:
        await aclient.aclose()
    counts = hist.read(redis_client())
    assert counts.buckets == [("0.01", 2), ("0.1", 4), ("1.0", 5), ("+Inf", 6)]
    assert counts.count == 6 and counts.sum == pytest.approx(0.01 + 0.05 + 0.1 + 0.5 + 7.0)


# ---------------------------------------------------------------- who may read /metrics


def _user(*, is_admin: bool = False, disabled: bool = False) -> str:
    """A session token of a new user; `disabled`: the account is disabled after the session began (its row
    says so even if the session were left behind)."""
    with session_scope() as s:
        user = User(username=f"m_{uuid.uuid4().hex[:8]}", password_hash="!", is_admin=is_admin)
        s.add(user)
        s.flush()
        user_id = user.id
    token = auth.start_session(user_id)[1]
    if disabled:
        with session_scope() as s:
            s.get(User, user_id).disabled_at = utcnow()
    return token


def _metrics(peer, *, token: str | None = None, headers: dict | None = None):
    with _app(peer) as c:
        if token:
            c.cookies.set(auth.SESSION_COOKIE, token)
        return c.get("/metrics", headers=headers or {})


def test_metrics_only_for_administrators_and_this_machine(env, private_namespace):
    private_namespace()
    admin_token, plain_token = _user(is_admin=True), _user()
    retired_token = _user(is_admin=True, disabled=True)

    for peer, token, headers in [
        (REMOTE, None, None),
        (REMOTE, None, {"X-Forwarded-For": "127.0.0.1"}),  # no trusted proxy: the header is not believed
        (REMOTE, plain_token, None),
        (REMOTE, retired_token, None),
        (REMOTE, "forged", None),
        (("testclient", 1), None, None),  # not an address at all
    ]:
        refused = _metrics(peer, token=token, headers=headers)
        assert (refused.status_code, refused.text) == (404, "Not found."), (peer, headers)

    ok = _metrics(REMOTE, token=admin_token)
    assert ok.status_code == 200 and ok.headers["cache-control"] == "no-store"
    assert ok.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "imagechat_jobs{" in ok.text and "password" not in ok.text
    for peer in (LOCAL, ("::1", 40000), ("127.0.0.2", 1), ("::ffff:127.0.0.1", 1)):
        assert _metrics(peer).status_code == 200, peer
    openmetrics = _metrics(LOCAL, headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.rstrip().endswith("# EOF")

    # A reverse proxy on this machine with TRUSTED_PROXY_HOPS=0: every visitor arrives from 127.0.0.1, but
    # through the proxy, which says so.
    for header in ({"X-Forwarded-For": "203.0.113.7"}, {"Forwarded": "for=203.0.113.7"}, {"X-Real-IP": "203.0.113.7"}):
        assert _metrics(LOCAL, headers=header).status_code == 404, header

    env(metrics_allow_localhost="false")
    assert _metrics(LOCAL).status_code == 404
    assert _metrics(LOCAL, token=admin_token).status_code == 200

    env(metrics_allow_localhost="true", trusted_proxy_hops=1)  # behind one proxy on this machine
    assert _metrics(LOCAL, headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 404
    assert _metrics(LOCAL, headers={"X-Forwarded-For": "127.0.0.1, 203.0.113.7"}).status_code == 404  # spoofed
    assert _metrics(LOCAL, headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 200


def test_metrics_still_answer_when_redis_is_down(env, private_namespace):
    private_namespace()
    env(redis_url=f"redis://127.0.0.1:{_closed_port()}/0")
    samples = _scrape()
    assert _value(samples, "imagechat_metrics_source_up", source="redis") == 0
    assert _value(samples, "imagechat_metrics_source_up", source="postgres") == 1
    assert ("imagechat_workers_alive", frozenset()) not in samples
    assert ("imagechat_queue_depth", frozenset()) in samples
