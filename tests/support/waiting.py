"""Waiting for jobs and conditions, shared by the tests and the benchmarks.

Progress-bus helpers follow a job's events on Redis (`progress.follow`); `wait_for_job` polls its database row;
`wait_until` polls anything. Every helper has a deadline and says what it was waiting for when it runs out.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import TypeVar

from imagechat.core import progress
from imagechat.core.progress import ProgressEvent

T = TypeVar("T")
JobId = uuid.UUID | str


async def job_events(job_id: JobId, timeout: float = 60.0) -> list[ProgressEvent]:
    """Every event of a job (the latest known state first) until it is terminal."""
    seen: list[ProgressEvent] = []

    async def collect() -> None:
        async for event in progress.follow([str(job_id)]):
            seen.append(event)

    try:
        await asyncio.wait_for(collect(), timeout)
    except TimeoutError:  # asyncio's, the same class on 3.11
        last = seen[-1] if seen else None
        raise TimeoutError(f"job {job_id} did not finish within {timeout:g} s; last event: {last}") from None
    return seen


def run_job(job_id: JobId, timeout: float = 60.0) -> list[ProgressEvent]:
    """`job_events` from synchronous code."""
    return asyncio.run(job_events(job_id, timeout))


def finish(job_id: JobId, timeout: float = 60.0) -> ProgressEvent:
    """Wait for the job to end (synchronous code) and return its terminal event."""
    return run_job(job_id, timeout)[-1]


async def wait_for_event(job_id: JobId, predicate: Callable[[ProgressEvent], bool],
                         timeout: float = 60.0) -> ProgressEvent:
    """The first event of the job that satisfies `predicate`.

    Raises AssertionError if the job ends before any event does, TimeoutError after `timeout` seconds.
    """
    async def watch() -> ProgressEvent:
        last = None
        async for event in progress.follow([str(job_id)]):
            if predicate(event):
                return event
            last = event
        raise AssertionError(f"job {job_id} ended before the expected event; last event: {last}")

    try:
        return await asyncio.wait_for(watch(), timeout)
    except TimeoutError:  # asyncio's, the same class on 3.11
        raise TimeoutError(f"no matching event of job {job_id} within {timeout:g} s") from None


def wait_until(predicate: Callable[[], T], timeout: float, what: str, step: float = 0.05,
               error: type[BaseException] = TimeoutError) -> T:
    """Poll `predicate` every `step` seconds until it returns something truthy, and return that.

    After `timeout` seconds raise `error` (TimeoutError; a benchmark script may pass SystemExit).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise error(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(step)


def wait_for_job(job_id: JobId, predicate: Callable, timeout: float = 60.0, step: float = 0.05):
    """Poll the job's database row until `predicate(row)` holds, and return the row (a GenerationJob)."""
    from imagechat.db import session_scope
    from imagechat.models import GenerationJob

    key = job_id if isinstance(job_id, uuid.UUID) else uuid.UUID(job_id)

    def check():
        with session_scope() as s:
            row = s.get(GenerationJob, key)
        return row if row is not None and predicate(row) else None

    return wait_until(check, timeout, f"job {job_id} to reach the expected state", step)
