"""Faults under load (issue "Hardening", point 3): a steady stream of jobs is submitted while a worker group is
SIGKILLed, Redis is SIGKILLed and restarts empty (no persistence: the queue is gone) and PostgreSQL stops
immediately (a crash) and starts again. Every accepted job must still end, each succeeded job with exactly its
n images, no reservation left open, and no refused submit may leave a row.

The test runs a PostgreSQL cluster and a Redis server of its own (it kills them), never the shared ones.

Timeline, in seconds after the submitter starts (it submits ~3 jobs/s for 30 s, 3 users, n 1..3, 256x256):
   0  worker groups A and B run (1 process, 2 threads each)
   6  SIGKILL group A (waits briefly until jobs are running); start group C (it boots in the background)
  14  SIGKILL Redis (waits briefly until jobs wait on the queue); start it again 2 s later, empty
  22  pg_ctl stop -m immediate (waits briefly until jobs are running); start it again 5 s later
  30  the submitter stops; then wait (at most 180 s) until every accepted job is terminal and nothing is reserved
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
import uuid
from dataclasses import dataclass, field

import pytest
import redis
from redis.exceptions import RedisError
from sqlalchemy import func
from sqlmodel import select

from imagechat.core import jobs, progress, queue, recovery
from imagechat.core.errors import ImagechatError, ServiceUnavailable
from imagechat.core.progress import ProgressEvent
from imagechat.core.request import ImageRequest
from imagechat.db import session_scope
from imagechat.models import TERMINAL, GenerationJob, Image, ImageData, JobStatus, LedgerStatus, UsageEntry
from tests.support.own_servers import PostgresCluster, RedisServer, tail
from tests.support.services import WorkerGroup, create_user

NAMESPACE = "faults"
RUN_ENV = {
    "IMAGE_ENGINE": "offline",
    "JOB_STALE_AFTER_S": "6",
    "RATE_LIMIT": "1000/minute",
    "MAX_JOBS_IN_FLIGHT_PER_USER": "3",
    "REDIS_NAMESPACE": NAMESPACE,
    "LOG_DIR": "",  # workers log to stderr only: WorkerProcess writes it to the test's tmp dir
    "LOG_FORMAT": "text",
}
USERS = 3
SUBMITS_PER_S = 3.0
SUBMIT_FOR_S = 30.0
MAX_SUBMITS = 120
SETTLE_WITHIN_S = 180.0
# What the chat shows for a job that recovery put back on the queue (not a silent "Queued").
RECOVERY_STAGES = ("Restarting after a worker stopped", recovery.BACK_IN_LINE)
DRIVER_WORDS = ("psycopg", "connection", "127.0.0.1", "localhost", "postgresql", "redis://", "sqlalchemy")
PROMPTS = ("a red boat on a calm lake at sunset", "a snowy mountain village at night",
           "a lighthouse on a rocky coast in a storm", "a field of sunflowers under a blue sky")


def _reset_caches() -> None:
    """Everything a process caches from its settings (as tests/conftest.py `_reset_cached_settings`)."""
    from imagechat.core import limits, redis_client
    from imagechat.core.queue import get_broker
    from imagechat.db import get_engine
    from imagechat.settings import get_settings

    get_settings.cache_clear()
    get_engine.cache_clear()
    get_broker.cache_clear()
    redis_client._sync.cache_clear()
    limits._limiter.cache_clear()


@dataclass
class Services:
    pg: PostgresCluster
    redis: RedisServer
    database_url: str
    redis_url: str


@pytest.fixture
def own_redis(monkeypatch):
    """Own Redis, the test process pointed at it; stopped and deleted at the end."""
    server = RedisServer()
    try:
        server.start()
        for name, value in {**RUN_ENV, "REDIS_URL": server.url()}.items():
            monkeypatch.setenv(name, value)
        _reset_caches()
        yield server
    finally:
        from imagechat.core import redis_client

        with contextlib.suppress(Exception):
            redis_client.client().close()
        _reset_caches()  # monkeypatch restores the environment after this; the caches refill from it
        server.destroy()


@pytest.fixture
def services(monkeypatch, own_redis):
    """Own PostgreSQL (migrated) and Redis, the test process pointed at them; all deleted at the end."""
    pg = None
    try:
        pg = PostgresCluster()
        pg.start()
        database_url = pg.create_database("imagechat_faults")
        monkeypatch.setenv("DATABASE_URL", database_url)
        _reset_caches()
        yield Services(pg, own_redis, database_url, own_redis.url())
    finally:
        from imagechat.db import get_engine

        with contextlib.suppress(Exception):
            get_engine().dispose()
        if pg is not None:
            pg.destroy()


class Groups:
    """Named worker groups, each with its own log directory under the test's tmp dir."""

    def __init__(self, services: Services, tmp_path):
        self.services, self.tmp_path = services, tmp_path
        self.groups: dict[str, WorkerGroup] = {}

    def start(self, name: str) -> WorkerGroup:
        log_dir = self.tmp_path / f"workers-{name}"
        log_dir.mkdir()
        group = WorkerGroup(self.services.database_url, self.services.redis_url, log_dir)
        self.groups[name] = group
        group.start(processes=1, threads=2, **RUN_ENV)
        return group

    def kill(self, name: str) -> None:
        for worker in self.groups[name].started:
            worker.kill()  # SIGKILL to the whole process group: no cleanup, no acks

    def tails(self, chars: int = 3000) -> str:
        out = []
        for name, group in self.groups.items():
            for worker in group.started:
                out.append(f"----- worker group {name}: {worker.log_path}\n{tail(worker.log_path, chars)}")
        return "\n".join(out)

    def close(self) -> None:
        for group in self.groups.values():
            for worker in group.started:
                worker.kill()  # throwaway workers: no graceful stop needed
            group.stop_all()  # closes the log files


@pytest.fixture
def workers(services, tmp_path):
    groups = Groups(services, tmp_path)
    yield groups
    groups.close()


@dataclass
class Submissions:
    accepted: list[tuple[int, uuid.UUID, int]] = field(default_factory=list)  # owner, job, n
    refused: list[tuple[float, int, str, str]] = field(default_factory=list)  # when, owner, code, message
    unexpected: list[str] = field(default_factory=list)


class Submitter(threading.Thread):
    """Calls jobs.submit steadily, as the chat does, and records what was accepted and what was refused."""

    def __init__(self, users: list[int], t0: float):
        super().__init__(name="submitter", daemon=True)
        self.users, self.t0 = users, t0
        self.result = Submissions()
        self.stop = threading.Event()

    def run(self) -> None:
        for i in range(MAX_SUBMITS):
            due = self.t0 + i / SUBMITS_PER_S
            if due - self.t0 >= SUBMIT_FOR_S or self.stop.wait(max(0.0, due - time.monotonic())):
                return
            owner, n = self.users[i % len(self.users)], 1 + i % 3
            request = ImageRequest(prompt=PROMPTS[i % len(PROMPTS)], width=256, height=256, n=n, seed=i)
            try:
                job_id = jobs.submit(owner, request)
            except ImagechatError as exc:
                self.result.refused.append((time.monotonic() - self.t0, owner, exc.code, exc.user_message))
            except Exception as exc:  # anything else reaching the chat is a bug
                self.result.unexpected.append(f"{time.monotonic() - self.t0:.1f}s {exc!r}")
            else:
                self.result.accepted.append((owner, job_id, n))


class BusRecorder(threading.Thread):
    """Every event published on the progress bus (pattern subscription), reconnecting after Redis restarts."""

    def __init__(self, redis_url: str):
        super().__init__(name="bus-recorder", daemon=True)
        self.redis_url = redis_url
        self.events: list[ProgressEvent] = []
        self.reconnects = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            client = redis.Redis.from_url(self.redis_url, socket_connect_timeout=1)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.psubscribe(f"{NAMESPACE}:progress:*")
                while not self.stop.is_set():
                    message = pubsub.get_message(timeout=0.5)
                    if message is not None:
                        self.events.append(ProgressEvent.from_json(message["data"]))
            except (RedisError, OSError):
                self.reconnects += 1
                self.stop.wait(0.1)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    pubsub.close()
                    client.close()


def _status_counts() -> collections.Counter:
    """running / admitted (queued with a message) / held; empty while PostgreSQL is away."""
    counts: collections.Counter = collections.Counter()
    with contextlib.suppress(ServiceUnavailable), session_scope() as s:
        rows = s.exec(select(GenerationJob.status, GenerationJob.heartbeat_at.is_(None), func.count())
                      .group_by(GenerationJob.status, GenerationJob.heartbeat_at.is_(None))).all()
        for status, held, count in rows:
            name = status if status != JobStatus.QUEUED else ("held" if held else "admitted")
            counts[name] += count
    return counts


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _open_work(accepted_ids: list[uuid.UUID]) -> tuple[list[GenerationJob], int] | None:
    """Accepted jobs not yet terminal, and reservations still open; None while PostgreSQL is away."""
    try:
        with session_scope() as s:
            open_jobs = s.exec(select(GenerationJob).where(GenerationJob.id.in_(accepted_ids),
                                                           GenerationJob.status.not_in(TERMINAL))).all()
            reserved = s.exec(select(func.count()).select_from(UsageEntry)
                              .where(UsageEntry.status == LedgerStatus.RESERVED)).one()
    except ServiceUnavailable:
        return None
    return list(open_jobs), int(reserved)


def _describe(job: GenerationJob, live: set[str] | None) -> str:
    message = "?" if live is None else ("message in Redis" if str(job.id) in live else "no message")
    return (f"{job.id} status={job.status} stage={job.stage!r} attempts={job.attempts} "
            f"heartbeat_at={job.heartbeat_at} created_at={job.created_at} ({message})")


def test_every_accepted_job_ends_through_worker_redis_and_database_crashes(services, workers):
    timeline: list[str] = []
    users = [create_user("faults") for _ in range(USERS)]
    workers.start("A")
    workers.start("B")
    recorder = BusRecorder(services.redis_url)
    recorder.start()
    t0 = time.monotonic()
    submitter = Submitter(users, t0)

    def note(what: str) -> None:
        timeline.append(f"{time.monotonic() - t0:6.1f}s {what} {dict(_status_counts())}")

    def at(second: float) -> None:
        time.sleep(max(0.0, t0 + second - time.monotonic()))

    try:
        submitter.start()

        at(6)
        _wait_for(lambda: _status_counts()["running"] >= 2, 6)
        note("SIGKILL worker group A")
        workers.kill("A")
        starting = threading.Thread(target=lambda: (workers.start("C"), note("worker group C ready")), daemon=True)
        starting.start()  # booting takes seconds on a busy machine: the next faults keep their schedule

        at(14)
        _wait_for(lambda: _status_counts()["admitted"] >= 1, 4)
        note("SIGKILL Redis")
        services.redis.kill()
        time.sleep(2)
        services.redis.start()
        note("Redis started again, empty")

        at(22)
        _wait_for(lambda: _status_counts()["running"] >= 1, 4)
        note("pg_ctl stop -m immediate")
        services.pg.stop("immediate")
        time.sleep(5)
        services.pg.start()
        note("PostgreSQL started again")

        starting.join(timeout=90)
        assert "C" in workers.groups and workers.groups["C"].started, "worker group C did not start"
        submitter.join(timeout=SUBMIT_FOR_S + 60)
        assert not submitter.is_alive(), "the submitter hung"
        result = submitter.result
        accepted_ids = [job_id for _, job_id, _ in result.accepted]
        note(f"submitter done: {len(result.accepted)} accepted, {len(result.refused)} refused")

        # Every accepted job ends, and every reservation is settled, within a bounded time.
        deadline = time.monotonic() + SETTLE_WITHIN_S
        while True:
            state = _open_work(accepted_ids)
            if state is not None and state == ([], 0):
                break
            if time.monotonic() > deadline:
                live = None
                with contextlib.suppress(RedisError):
                    live = queue.live_job_ids()
                stuck = "\n".join(_describe(job, live) for job in (state[0] if state else []))
                pytest.fail(f"not settled within {SETTLE_WITHIN_S:g} s; open reservations: "
                            f"{state[1] if state else '?'}; jobs not terminal:\n{stuck}")
            time.sleep(1)
        note("every accepted job terminal, no reservation open")
        recorder.stop.set()
        recorder.join(timeout=5)

        problems = _problems(result, services, recorder.events)
        assert not problems, "\n".join(problems)
    except BaseException:
        print("\n".join(["", "timeline:", *timeline, workers.tails(),
                         f"----- PostgreSQL log\n{tail(services.pg.log)}",
                         f"----- Redis log\n{tail(services.redis.log, 1500)}"]))
        raise
    finally:
        submitter.stop.set()
        recorder.stop.set()
    print("\n".join(["", "timeline:", *timeline]))


def _problems(result: Submissions, services: Services, events: list[ProgressEvent]) -> list[str]:
    """Every invariant the run broke (all of them, so one run shows the whole picture)."""
    problems = []
    if result.unexpected:
        problems.append(f"{len(result.unexpected)} submit(s) raised something other than an ImagechatError: "
                        f"{result.unexpected[:5]}")
    if len(result.accepted) < 20:
        problems.append(f"only {len(result.accepted)} jobs were accepted: too few for the test to mean anything")
    if not result.refused:
        problems.append("no submit was refused: did the outages happen?")
    forbidden = (*DRIVER_WORDS, str(services.pg.port), str(services.redis.port))
    for when, _owner, code, message in result.refused:
        if code != ServiceUnavailable.code or [word for word in forbidden if word in message.lower()]:
            problems.append(f"a refused submit at {when:.1f}s said {code}: {message!r}")

    accepted = {job_id: (owner, n) for owner, job_id, n in result.accepted}
    with session_scope() as s:
        rows = s.exec(select(GenerationJob)).all()
        images = s.exec(select(Image.job_id, Image.index_in_job, Image.id)).all()
        data_per_image = collections.Counter(s.exec(select(ImageData.image_id)).all())
        ledger = s.exec(select(UsageEntry.job_id, UsageEntry.status)).all()

    # No refused submit left a row: exactly the accepted jobs exist (so per user too).
    for row in rows:
        if row.id not in accepted:
            problems.append(f"a refused submit left job {row.id} (user {row.owner_id}, created {row.created_at}, "
                            f"now {row.status}, {row.attempts} attempt(s))")
    if missing := set(accepted) - {row.id for row in rows}:
        problems.append(f"accepted jobs without a row: {missing}")
    if collections.Counter(row.owner_id for row in rows) != collections.Counter(o for o, _ in accepted.values()):
        problems.append("job rows per user differ from accepted submits per user")

    by_job = collections.defaultdict(list)
    for job_id, index, image_id in images:
        by_job[job_id].append((index, image_id))
    for row in rows:
        stored = by_job.get(row.id, [])
        if row.status not in TERMINAL:
            problems.append(f"job {row.id} is still {row.status} ({row.stage!r})")
        elif row.status == JobStatus.SUCCEEDED:
            n = accepted[row.id][1] if row.id in accepted else row.params["n"]
            if sorted(index for index, _ in stored) != list(range(n)):
                problems.append(f"succeeded job {row.id} asked for {n} images and has {sorted(i for i, _ in stored)}")
            if any(data_per_image[image_id] != 1 for _, image_id in stored):
                problems.append(f"succeeded job {row.id}: an image without exactly one image_data row")
        elif stored:
            problems.append(f"{row.status} job {row.id} has {len(stored)} images")
    if set(data_per_image) != {image_id for _, _, image_id in images}:
        problems.append("image_data rows without an image, or images without data")

    if reserved := [job_id for job_id, status in ledger if status == LedgerStatus.RESERVED]:
        problems.append(f"reservations still open: {reserved}")
    if collections.Counter(job_id for job_id, _ in ledger) != collections.Counter(row.id for row in rows):
        problems.append("a job without exactly one ledger entry")

    recovered = {e.job_id for e in events if e.status == JobStatus.QUEUED and e.stage in RECOVERY_STAGES}
    if not recovered:
        problems.append(f"no job was shown as waiting for recovery; stages seen: {sorted({e.stage for e in events})}")
    stages = collections.Counter(e.stage for e in events if e.stage in RECOVERY_STAGES)
    outcome = collections.Counter(row.status for row in rows)
    failed = collections.Counter(row.error_code for row in rows if row.status == JobStatus.FAILED)
    print(f"\nfaults: {len(result.accepted)} accepted, {len(result.refused)} refused, outcome {dict(outcome)}, "
          f"failures {dict(failed)}, attempts {dict(collections.Counter(row.attempts for row in rows))}, "
          f"recovery stages on the bus {dict(stages)} for {len(recovered)} job(s)")
    return problems


async def test_a_progress_subscriber_hears_events_after_redis_restarts(own_redis):
    """The chat's Subscriber must keep following its jobs across a Redis restart (to show recovery stages)."""
    import asyncio

    job = str(uuid.uuid4())
    async with progress.Subscriber() as sub:
        await sub.add(job)
        await asyncio.to_thread(progress.publish, ProgressEvent(job_id=job, status="running", stage="before"))
        assert (await sub.get(timeout=5)).stage == "before"
        await asyncio.to_thread(own_redis.kill)
        await asyncio.sleep(1.5)
        await asyncio.to_thread(own_redis.start)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(progress.publish, ProgressEvent(job_id=job, status="queued",
                                                                stage=recovery.BACK_IN_LINE))
        event = await sub.get(timeout=5)
    assert event is not None and event.stage == recovery.BACK_IN_LINE


async def test_a_database_outage_while_storing_retries_the_message_instead_of_failing_the_job(
        make_user, private_namespace, monkeypatch):
    """The outage the fault test makes at random, made deterministic: PostgreSQL goes away as the result is stored.
    The job must stay running for the message's retry (or recovery), never end as failed "service_unavailable"."""
    from imagechat.core import runner

    private_namespace()  # nobody consumes this queue: the job runs in this process only
    owner = make_user()
    job_id = jobs.submit(owner, ImageRequest(prompt="a red boat on a calm lake", width=256, height=256, seed=3))

    def database_gone(*_args, **_kwargs):
        raise ServiceUnavailable("The database is unavailable right now. Try again in a minute.")

    monkeypatch.setattr(runner, "_store", database_gone)
    with pytest.raises(ServiceUnavailable):  # Dramatiq's retry_when (workers/actors.py) retries it
        await runner.run_job(str(job_id))
    with session_scope() as s:
        job = s.get(GenerationJob, job_id)
    assert (job.status, job.error_code) == (JobStatus.RUNNING, None)
