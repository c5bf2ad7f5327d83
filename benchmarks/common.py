"""Shared set-up for benchmarks: a throwaway database, a private Redis namespace, real workers."""

from __future__ import annotations

import os
import statistics
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from tests.support.services import WorkerGroup, WorkerProcess, create_user, temporary_database

ROOT = Path(__file__).resolve().parents[1]


def reset_caches() -> None:
    from imagechat.core.queue import get_broker
    from imagechat.db import get_engine
    from imagechat.settings import get_settings

    get_settings.cache_clear()
    get_engine.cache_clear()
    get_broker.cache_clear()


@contextmanager
def environment(*, workers: int = 0, processes: int = 1, threads: int = 2, **env) -> Iterator[list[WorkerProcess]]:
    """Point this process (and any workers) at a fresh database and Redis namespace."""
    import redis

    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    overrides = {"REDIS_NAMESPACE": namespace, "IMAGE_ENGINE": "offline", "RATE_LIMIT": "100000/minute",
                 **{k.upper(): str(v) for k, v in env.items()}}
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    with temporary_database("imagechat_bench") as db_url, ExitStack() as stack:
        os.environ.update({"DATABASE_URL": db_url, "REDIS_URL": redis_url, **overrides})
        reset_caches()
        group = WorkerGroup(db_url, redis_url, Path(stack.enter_context(tempfile.TemporaryDirectory())))
        stack.callback(group.stop_all)
        for _ in range(workers):
            group.start(processes, threads, **overrides)
        try:
            yield group.started
        finally:
            from imagechat.db import get_engine

            get_engine().dispose()
            client = redis.Redis.from_url(redis_url)
            for key in client.scan_iter(match=f"{namespace}*", count=1000):
                client.delete(key)


def make_user() -> int:
    return create_user("bench")


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary(label: str, samples_ms: list[float], target: str = "") -> str:
    return (f"{label}: median {statistics.median(samples_ms):.2f} ms, p95 {percentile(samples_ms, 95):.2f} ms, "
            f"min {min(samples_ms):.2f} ms, n={len(samples_ms)}" + (f"  (target {target})" if target else ""))
