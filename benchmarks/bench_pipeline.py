"""Pipeline overhead and throughput with real workers on Redis and PostgreSQL.

1. Overhead: submit -> worker -> stored -> completion event received, with the offline engine at its
   smallest size (a near-zero-latency engine); the engine's own render time is measured separately
   and subtracted. Target p50 overhead <= 100 ms.
2. Throughput: 100 jobs over 2 worker processes; counts lost and duplicated images (target: zero).
3. The Redis cost of an idle worker polling its queue (commands per second).

    python -m benchmarks.bench_pipeline [--jobs 100] [--samples 30]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import redis
from sqlalchemy import func
from sqlmodel import select

from benchmarks.common import environment, make_user, summary
from imagechat.core.request import ImageRequest

USERS = 4


def smallest_size():
    from imagechat.core.providers import get_provider

    return min(get_provider("offline").capabilities.sizes, key=lambda s: s[0] * s[1])


def engine_ms(width: int, height: int, runs: int = 15) -> float:
    from imagechat.core.providers import get_provider
    from imagechat.core.providers.base import no_progress

    provider = get_provider("offline")
    samples = []
    for i in range(runs):
        t = time.perf_counter()
        asyncio.run(provider.generate(ImageRequest(prompt="a red boat", width=width, height=height, seed=i),
                                      no_progress))
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


async def one_job(owner: int, width: int, height: int) -> float:
    from imagechat.core import jobs, progress

    t = time.perf_counter()
    job_id = await asyncio.to_thread(jobs.submit, owner, ImageRequest(prompt="a red boat",
                                                                  width=width, height=height))
    async for event in progress.follow([str(job_id)]):
        if event.terminal:
            assert event.status == "succeeded", event
    return (time.perf_counter() - t) * 1000


def overhead(samples: int) -> None:
    width, height = smallest_size()
    with environment(workers=1):
        owner = make_user()
        asyncio.run(one_job(owner, width, height))  # warm-up: imports, connections
        totals = [asyncio.run(one_job(owner, width, height)) for _ in range(samples)]
    render = engine_ms(width, height)
    print(summary(f"submit -> stored -> completion event ({width}x{height})", totals))
    print(f"engine render alone: median {render:.2f} ms")
    over = [t - render for t in totals]
    print(summary("pipeline overhead (total - engine)", over, "p50 <= 100 ms"))


async def run_many(owners: list[int], count: int) -> tuple[float, dict]:
    from imagechat.core import jobs, progress

    t = time.perf_counter()
    ids = [await asyncio.to_thread(jobs.submit, owners[i % len(owners)],
                                   ImageRequest(prompt=f"a boat on a lake {i}", width=256, height=256))
           for i in range(count)]
    statuses = {}
    async for event in progress.follow([str(i) for i in ids]):
        if event.terminal:
            statuses[event.job_id] = event.status
    return time.perf_counter() - t, statuses


def throughput(count: int) -> None:
    from imagechat.db import session_scope
    from imagechat.models import GenerationJob, Image

    with environment(workers=1, processes=2, threads=2):
        # Several users: each has at most MAX_JOBS_IN_FLIGHT_PER_USER (2) jobs in flight (fair scheduling).
        owners = [make_user() for _ in range(USERS)]
        elapsed, statuses = asyncio.run(run_many(owners, count))
        with session_scope() as s:
            per_job = s.exec(select(Image.job_id, func.count()).group_by(Image.job_id)).all()
            succeeded = s.exec(select(func.count()).select_from(GenerationJob)
                               .where(GenerationJob.status == "succeeded")).one()
    images = {job: n for job, n in per_job}
    lost = count - len(images)
    duplicated = sum(n - 1 for n in images.values() if n > 1)
    print(f"throughput: {count} jobs (256x256) of {USERS} users over 2 worker processes in {elapsed:.2f} s = "
          f"{count / elapsed:.1f} jobs/s; succeeded {succeeded}, lost {lost}, duplicated {duplicated}, "
          f"events {len(statuses)}")


def idle_poll_cost(seconds: float = 5.0) -> None:
    import os

    client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    with environment(workers=1):
        time.sleep(1.0)
        before = client.info("stats")["total_commands_processed"]
        time.sleep(seconds)
        after = client.info("stats")["total_commands_processed"]
    print(f"idle worker polling cost: {(after - before) / seconds:.0f} Redis commands/s "
          f"(whole server, 1 idle worker process, poll <= WORKER_POLL_MS)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    overhead(args.samples)
    throughput(args.jobs)
    idle_poll_cost()


if __name__ == "__main__":
    main()
