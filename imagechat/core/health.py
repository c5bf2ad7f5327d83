"""Readiness: can this web process serve users right now? (/readyz, api/health.py; /healthz needs no checks.)

Ready means all three of:
- postgres: a pooled connection answers SELECT 1;
- redis: PING is answered;
- workers: at least one worker process reported in the last few seconds (core.queue.workers_alive), else jobs
  would wait (unknown when Redis does not answer).

Each check runs on a thread of this module's own (two, so a hanging service never takes the threads other routes
use) and gets TIMEOUT_S: a service that hangs (a dropped packet, an exhausted pool) makes /readyz answer 503 in
about that long instead of hanging the probe. Calls that arrive while a check is in flight share its result, so a
flood of probes runs one check at a time per process. Results say what failed in a word (never a host, URL or
driver message); the log gets the exception's class when readiness changes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from imagechat.core import queue
from imagechat.core.errors import ServiceUnavailable
from imagechat.core.redis_client import client
from imagechat.db import get_engine

log = logging.getLogger(__name__)

TIMEOUT_S = 2.0
OK, TIMEOUT, UNAVAILABLE, NONE_ALIVE, UNKNOWN = "ok", "timeout", "unavailable", "none alive", "unknown"
_threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="readiness")


@dataclass(frozen=True)
class Readiness:
    checks: dict[str, str]  # name -> OK or what is wrong

    @property
    def ready(self) -> bool:
        return all(value == OK for value in self.checks.values())

    @property
    def failed(self) -> list[str]:
        return [name for name, value in self.checks.items() if value != OK]


def _postgres() -> None:
    with get_engine().connect() as conn:
        conn.execute(text("SELECT 1")).one()


def _redis_and_workers() -> int:
    redis = client()
    redis.ping()
    return queue.workers_alive()


async def _run(check: Callable[[], object]) -> tuple[str, object]:
    """(OK, what the check returned) or (TIMEOUT | UNAVAILABLE, the exception's class name for the log)."""
    loop = asyncio.get_running_loop()
    try:
        return OK, await asyncio.wait_for(loop.run_in_executor(_threads, check), TIMEOUT_S)
    except TimeoutError:
        return TIMEOUT, f"no answer within {TIMEOUT_S:g} s"
    except (SQLAlchemyError, ServiceUnavailable, RedisError, OSError) as exc:
        return UNAVAILABLE, type(exc).__name__
    except Exception as exc:  # noqa: BLE001 - e.g. a malformed URL: not ready either, and no trace to the client
        return UNAVAILABLE, type(exc).__name__


async def _check() -> Readiness:
    (pg, pg_detail), (redis, redis_detail) = await asyncio.gather(_run(_postgres), _run(_redis_and_workers))
    alive = (OK if redis_detail else NONE_ALIVE) if redis == OK else UNKNOWN  # redis_detail: the worker count
    result = Readiness({"postgres": pg, "redis": redis, "workers": alive})
    _log_change(result, {"postgres": pg_detail, "redis": redis_detail})
    return result


_last_failed: list[str] | None = None


def _log_change(result: Readiness, errors: dict[str, object]) -> None:
    global _last_failed
    if result.failed == _last_failed:
        return
    _last_failed = result.failed
    if result.ready:
        log.info("ready: PostgreSQL, Redis and workers answer")
    else:
        causes = {name: errors.get(name) or result.checks[name] for name in result.failed}
        log.warning("not ready: %s", ", ".join(f"{name} ({cause})" for name, cause in causes.items()))


_inflight: asyncio.Task | None = None


async def readiness() -> Readiness:
    """Run the checks, or wait for the ones already running in this process and share their result."""
    global _inflight
    task = _inflight
    if task is None or task.done() or task.get_loop() is not asyncio.get_running_loop():
        task = _inflight = asyncio.ensure_future(_check())
    return await asyncio.shield(task)
