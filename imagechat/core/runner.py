"""Running a job on the worker: claim it, drive the engine with a watchdog (heartbeat, cancel,
time limit), publish throttled progress, and store the result exactly once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from dataclasses import dataclass, replace
from datetime import timedelta

from redis.exceptions import RedisError
from sqlalchemy import text

from imagechat.core import admission, library, limits, masks, notifications, previews, progress, redis_client
from imagechat.core.errors import ImagechatError, NotFound, ServiceUnavailable, StorageUnavailable, TransientEngineError
from imagechat.core.jobs import cancel_key, fail, locked, requeue
from imagechat.core.progress import ProgressEvent
from imagechat.core.providers import get_provider
from imagechat.core.providers.base import GenerationResult, Progress
from imagechat.core.request import ImageRequest
from imagechat.core.urls import preview_url
from imagechat.db import session_scope
from imagechat.models import TERMINAL, GenerationJob, JobKind, JobStatus, utcnow
from imagechat.settings import get_settings

log = logging.getLogger(__name__)

PUBLISH_INTERVAL_S = 0.05  # at most 20 progress events per second per job
INFRA_ERRORS = (ServiceUnavailable, RedisError)  # PostgreSQL or Redis away: retry the message later


@dataclass
class _Claim:
    job_id: uuid.UUID
    attempt: int
    engine: str
    request: ImageRequest
    owner_id: int
    conversation_id: int | None
    source_image_id: uuid.UUID | None


def _claim(job_id: uuid.UUID) -> _Claim | None:
    """Mark the job running for this attempt, or None when there is nothing to do."""
    settings = get_settings()
    with session_scope() as s:
        job = locked(s, job_id)
        if job is None or job.status in TERMINAL:
            return None
        fresh = utcnow() - timedelta(seconds=settings.job_stale_after_s)
        if job.status == JobStatus.RUNNING and job.heartbeat_at and job.heartbeat_at > fresh:
            return None  # another worker holds it (a duplicate delivery)
        if job.attempts >= settings.job_max_attempts:
            attempt_over = True
        else:
            attempt_over = False
            job.status, job.attempts, job.stage, job.percent = JobStatus.RUNNING, job.attempts + 1, "Starting", 0.0
            job.started_at = job.started_at or utcnow()
            job.heartbeat_at = utcnow()
            s.add(job)
        snapshot = job  # expire_on_commit=False: attributes stay readable after the commit
    if attempt_over:
        fail(job_id, "This image failed too many times. Try again later.", "too_many_attempts")
        return None
    source = source_row = mask = None
    if snapshot.kind == JobKind.EDIT and snapshot.source_image_id is not None:
        try:
            source_row, source = library.image_bytes(snapshot.owner_id, snapshot.source_image_id)
        except NotFound:
            fail(job_id, "The image to change was deleted. Pick another image.", "source_missing")
            return None
        except StorageUnavailable as exc:  # the source's bytes are in an object store that is away: try later
            _retry_later(job_id, snapshot.attempts, snapshot.owner_id, exc)
            return None
        mask = masks.job_mask(job_id)  # the area the user painted, if any
    request = replace(ImageRequest.from_params(snapshot.prompt, snapshot.params), source_image=source, mask=mask,
                      source_prompt=source_row.prompt if source_row else None,
                      source_seed=source_row.seed if source_row else None,
                      user=f"u{snapshot.owner_id}", engine=snapshot.engine, model=snapshot.model or None)
    return _Claim(job_id=job_id, attempt=snapshot.attempts, engine=snapshot.engine, request=request,
                  owner_id=snapshot.owner_id, conversation_id=snapshot.conversation_id,
                  source_image_id=snapshot.source_image_id)


class _Reporter:
    """Turns engine progress into bus events: at most one per PUBLISH_INTERVAL_S, newest wins."""

    def __init__(self, job_id: uuid.UUID):
        self.job_id = str(job_id)
        self.percent = 0.0
        self.stage = "Starting"
        self.previews = 0
        self._last = 0.0
        self._pending: ProgressEvent | None = None
        self._flush: asyncio.TimerHandle | None = None
        self._storing: asyncio.Future | None = None

    async def __call__(self, update: Progress) -> None:
        self.percent = max(self.percent, min(99.0, float(update.percent)))  # 100 only once stored
        stage_changed = update.stage != self.stage
        self.stage = update.stage
        preview_url = None
        if update.preview is not None:
            self.previews += 1
            # Shielded: a cancel must not leave the thread writing a preview after the job's end forgot it
            # (drain waits for it).
            self._storing = asyncio.ensure_future(
                asyncio.to_thread(_store_preview, self.job_id, update.preview, self.previews))
            preview_url = await asyncio.shield(self._storing)
        event = ProgressEvent(job_id=self.job_id, status=JobStatus.RUNNING, percent=round(self.percent, 1),
                              stage=self.stage, preview_url=preview_url)
        now = time.monotonic()
        if stage_changed or preview_url or now - self._last >= PUBLISH_INTERVAL_S:
            self._send(event)
        else:
            self._pending = event
            if self._flush is None:
                delay = PUBLISH_INTERVAL_S - (now - self._last)
                self._flush = asyncio.get_running_loop().call_later(delay, self._send_pending)

    def _send_pending(self) -> None:
        self._flush = None
        if self._pending is not None:
            self._send(self._pending)

    def _send(self, event: ProgressEvent) -> None:
        self._pending = None
        self._last = time.monotonic()
        progress.publish(event)

    async def drain(self) -> None:
        """Wait for a preview still being written (the engine was stopped while it was stored)."""
        if self._storing is None:
            return
        await asyncio.wait([self._storing])  # at once when it is done already
        if not self._storing.cancelled():
            self._storing.exception()  # retrieved: a failed write after the cancel is not worth a warning

    def close(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        self._pending = None


def _store_preview(job_id: str, data: bytes, number: int) -> str:
    previews.store(job_id, data, number)
    return preview_url(job_id, number)


async def _watchdog(claim: _Claim, task: asyncio.Task, reporter: _Reporter) -> None:
    """Heartbeat to the database and watch for cancellation while the engine runs."""
    settings = get_settings()
    beat_every = max(0.5, min(5.0, settings.job_stale_after_s / 3))
    next_beat = time.monotonic() + beat_every
    key = cancel_key(claim.job_id)
    while not task.done():
        await asyncio.sleep(0.25)
        try:
            if await asyncio.to_thread(redis_client.client().exists, key):
                task.cancel()
                return
            if time.monotonic() >= next_beat:
                next_beat = time.monotonic() + beat_every
                await asyncio.to_thread(_heartbeat, claim, reporter.percent, reporter.stage)
        except INFRA_ERRORS:  # Redis or PostgreSQL away for a moment: the engine keeps going, try again
            log.warning("watchdog: service unavailable", extra={"job_id": str(claim.job_id)})


def _heartbeat(claim: _Claim, percent: float, stage: str) -> None:
    with session_scope() as s:
        s.execute(text("UPDATE generation_jobs SET heartbeat_at = now(), percent = :p, stage = :st "
                    "WHERE id = :id AND status = 'running' AND attempts = :a")
               .bindparams(p=percent, st=stage[:200], id=claim.job_id, a=claim.attempt))


async def run_job(job_id: str) -> None:
    """The worker's entry point. Always ends the job in a terminal state or requeues it."""
    job_uuid = uuid.UUID(job_id)
    claim = await asyncio.to_thread(_claim, job_uuid)
    if claim is None:
        await asyncio.to_thread(_republish_terminal, job_uuid)
        return
    await asyncio.to_thread(admission.publish_positions)
    settings = get_settings()
    reporter = _Reporter(job_uuid)
    progress.publish(ProgressEvent(job_id=job_id, status=JobStatus.RUNNING, percent=0, stage="Starting"))
    try:
        provider = get_provider(claim.engine, model=claim.request.model)  # the model chosen in the composer
        task = asyncio.ensure_future(provider.generate(claim.request, reporter))
        watchdog = asyncio.ensure_future(_watchdog(claim, task, reporter))
        try:
            result = await asyncio.wait_for(task, timeout=settings.job_time_limit_s)
        except TimeoutError:
            raise TransientEngineError(f"The engine took longer than {settings.job_time_limit_s} s.",
                                       code="time_limit") from None
        finally:
            watchdog.cancel()
        reporter.close()
        reporter.stage = "Saving"
        progress.publish(ProgressEvent(job_id=job_id, status=JobStatus.RUNNING, percent=99, stage="Saving your image"))
        await asyncio.to_thread(_store, claim, result)
    except asyncio.CancelledError:
        reporter.close()
        await reporter.drain()
        if await asyncio.to_thread(redis_client.client().exists, cancel_key(job_id)):
            log.info("job stopped: cancelled", extra={"job_id": job_id, "user_id": claim.owner_id})
            await asyncio.to_thread(_settle_cancelled, claim)
            return
        raise
    except (TransientEngineError, StorageUnavailable) as exc:  # a busy engine, or the image store away
        reporter.close()
        await asyncio.to_thread(_retry_or_fail, claim, exc)
    except INFRA_ERRORS:  # before ImagechatError: ServiceUnavailable is one, and an outage must not fail the job
        reporter.close()
        raise  # the actor retries the message; recovery.reconcile is the backstop
    except ImagechatError as exc:
        reporter.close()
        log.info("job %s failed: %s (%s)", job_id, exc.code, exc.user_message,
                 extra={"job_id": job_id, "user_id": claim.owner_id})
        await asyncio.to_thread(fail, job_uuid, exc.user_message, exc.code, attempt=claim.attempt)
    except Exception:
        reporter.close()
        log.exception("job %s crashed", job_id, extra={"job_id": job_id, "user_id": claim.owner_id})
        await asyncio.to_thread(fail, job_uuid, "Something went wrong while making this image. Try again.",
                                "internal_error", attempt=claim.attempt)


def _retry_or_fail(claim: _Claim, exc: TransientEngineError | StorageUnavailable) -> None:
    _retry_later(claim.job_id, claim.attempt, claim.owner_id, exc)


def _retry_later(job_id: uuid.UUID, attempt: int, owner_id: int, exc: TransientEngineError | StorageUnavailable,
                 ) -> None:
    """Back on the queue with backoff while attempts remain (the reservation stays), else failed with the reason
    (which releases it)."""
    settings = get_settings()
    if attempt >= settings.job_max_attempts:
        log.info("job %s failed after %s attempts: %s", job_id, attempt, exc.code,
                 extra={"job_id": str(job_id), "user_id": owner_id})
        fail(job_id, f"{exc.user_message} Gave up after {attempt} attempts; try again later.",
              exc.code, attempt=attempt)
        return
    delay = exc.retry_after_s if exc.retry_after_s is not None else min(60.0, 2.0 ** attempt)
    delay += random.uniform(0, 0.25 * delay)
    log.info("job %s attempt %s failed (%s); retrying in %.1f s", job_id, attempt, exc.code, delay,
             extra={"job_id": str(job_id), "user_id": owner_id})
    why = "Image storage unreachable" if isinstance(exc, StorageUnavailable) else "Engine busy"
    requeue(job_id, stage=f"{why}; retrying in {delay:.0f} s "
             f"(attempt {attempt + 1} of {settings.job_max_attempts})", delay_s=delay, attempt=attempt)


def _store(claim: _Claim, result: GenerationResult) -> None:
    new_images = [library.NewImage(stored=library.prepare(img.data), seed=img.seed,
                                   revised_prompt=img.revised_prompt) for img in result.images]
    if not new_images:
        raise TransientEngineError("The engine returned no image.", code="empty_result")
    # Object storage: the bytes go up before the transaction (no row without its bytes, no lock held on the
    # network); StorageUnavailable here retries the job. Uploads that end up unrecorded are removed.
    library.upload(new_images)
    try:
        ids = _record(claim, result, new_images)
    except BaseException:
        library.discard(new_images)
        raise
    if ids is None:
        library.discard(new_images)
        return
    progress.publish(ProgressEvent(job_id=str(claim.job_id), status=JobStatus.SUCCEEDED, percent=100, stage="Done",
                                   image_ids=[str(i) for i in ids]))
    notifications.mark_ended(claim.owner_id)
    log.info("job succeeded: %d image(s), $%.4f", len(ids), result.cost_usd,
             extra={"job_id": str(claim.job_id), "user_id": claim.owner_id})
    previews.forget(str(claim.job_id))
    admission.admit(claim.owner_id)


def _record(claim: _Claim, result: GenerationResult, new_images: list[library.NewImage]) -> list[uuid.UUID] | None:
    """The job's images and its end in one transaction; None when the result was thrown away."""
    with session_scope() as s:
        job = locked(s, claim.job_id)
        if job is None or job.attempts != claim.attempt or job.status not in (JobStatus.RUNNING, JobStatus.CANCELLED):
            log.info("job changed while running (now %s); result discarded", job.status if job else "deleted",
                     extra={"job_id": str(claim.job_id)})
            return None
        if job.status == JobStatus.CANCELLED:  # cancelled after the engine finished: billed all the same
            limits.settle(s, claim.job_id, cost_usd=result.cost_usd, usage=result.usage)
            return None
        ids = library.add_images(s, owner_id=claim.owner_id, job_id=claim.job_id, prompt=claim.request.prompt,
                                 style=claim.request.style, engine=result.engine, model=result.model,
                                 conversation_id=claim.conversation_id, parent_image_id=claim.source_image_id,
                                 new_images=new_images)
        job.status, job.percent, job.stage, job.finished_at = JobStatus.SUCCEEDED, 100.0, "Done", utcnow()
        job.cost_usd, job.model = result.cost_usd, result.model
        limits.settle(s, claim.job_id, cost_usd=result.cost_usd, usage=result.usage)
        s.add(job)
    return ids


def _settle_cancelled(claim: _Claim) -> None:
    """The engine was stopped mid-call: the provider bills a request it received, and we cannot know
    how much of it, so the reservation (the estimate's upper bound) is charged. Free engines reserve 0."""
    with session_scope() as s:
        limits.charge_reservation(s, claim.job_id, why="cancelled while the engine was running")
    previews.forget(str(claim.job_id))  # jobs.cancel forgot it too, maybe before the engine's last one was written
    admission.admit(claim.owner_id)


def _republish_terminal(job_id: uuid.UUID) -> None:
    """A redelivered message for a finished job: make sure subscribers saw the end."""
    with session_scope() as s:
        job = s.get(GenerationJob, job_id)
        if job is None or job.status not in TERMINAL:
            return
        if (latest := progress.latest(str(job_id))) is not None and latest.terminal:
            return
        ids = [] if job.status != JobStatus.SUCCEEDED else [
            str(i) for i in s.execute(text("SELECT id FROM images WHERE job_id = :j ORDER BY index_in_job")
                                   .bindparams(j=job_id)).scalars()]
    progress.publish(ProgressEvent(job_id=str(job_id), status=job.status, percent=job.percent, stage=job.stage,
                                   error=job.error, error_code=job.error_code, image_ids=ids))


