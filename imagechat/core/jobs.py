"""Job lifecycle: submit (validate, rate-limit, reserve budget, write the row, admit to the queue),
cancel, fail and requeue. The worker side lives in runner.py, fair admission in admission.py and the
recovery of jobs that faults left behind in recovery.py.

States: queued -> running -> succeeded | failed | cancelled (a transient failure goes back to queued).
Every state change is one transaction on the job row (SELECT ... FOR UPDATE), so a redelivered or
duplicated message can never store an image twice or resurrect a finished job.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import replace

from redis.exceptions import RedisError
from sqlalchemy import delete as sa_delete
from sqlmodel import Session, select

from imagechat.core import (
    admission,
    cache,
    codec,
    library,
    limits,
    masks,
    notifications,
    previews,
    progress,
    queue,
    redis_client,
)
from imagechat.core.errors import InvalidRequest, NotFound, ServiceUnavailable
from imagechat.core.progress import ProgressEvent
from imagechat.core.providers import get_provider
from imagechat.core.providers.base import ImageProvider
from imagechat.core.request import QUALITIES, ImageRequest
from imagechat.core.styles import check_style
from imagechat.core.text import clean_text
from imagechat.db import session_scope
from imagechat.models import TERMINAL, GenerationJob, JobKind, JobMask, JobStatus, UsageEntry, utcnow
from imagechat.settings import get_settings

log = logging.getLogger(__name__)

NOTHING_QUEUED_DB = limits.NOTHING_QUEUED_DB
NOTHING_QUEUED_QUEUE = "The image queue is unreachable right now; nothing was queued. Try again in a minute."


def _whole(value: object) -> bool:
    return type(value) is int


def validate(request: ImageRequest, provider: ImageProvider) -> ImageRequest:
    """Return the cleaned request, or raise InvalidRequest saying what to change."""
    settings = get_settings()
    caps = provider.capabilities
    if not isinstance(request.prompt, str):
        raise InvalidRequest("The prompt must be text.")
    for name in ("width", "height", "n"):
        if not _whole(getattr(request, name)):
            raise InvalidRequest(f"'{name}' must be a whole number.")
    if len(request.prompt) > settings.max_prompt_chars:
        raise InvalidRequest(f"The prompt is {len(request.prompt)} characters long; the limit is "
                             f"{settings.max_prompt_chars}. Shorten it and try again.")
    prompt = clean_text(request.prompt)
    if not prompt:
        raise InvalidRequest("The prompt is empty. Describe the image you want, for example "
                             "\"a sunset over mountains with a lake reflection\".")
    style = check_style(request.style)
    if not provider.accepts_size(request.width, request.height):
        sizes = ", ".join(f"{w}x{h}" for w, h in caps.sizes)
        raise InvalidRequest(f"The {provider.name} engine can't make {request.width}x{request.height} images. "
                             f"Try one of: {sizes}.")
    max_n = min(caps.max_n, settings.max_images_per_request)
    if not 1 <= request.n <= max_n:
        raise InvalidRequest(f"You can ask for 1 to {max_n} images at a time.")
    if not isinstance(request.quality, str) or request.quality not in QUALITIES:
        raise InvalidRequest(f"Quality must be one of: {', '.join(QUALITIES)}.")
    if request.seed is not None and not (_whole(request.seed) and 0 <= request.seed < 2**63):
        raise InvalidRequest("The seed must be a whole number between 0 and 2^63-1.")
    return replace(request, prompt=prompt, style=style, source_image=None, user=None, mask=None, source_prompt=None,
                   source_seed=None)


def submit(owner_id: int, request: ImageRequest, *, conversation_id: int | None = None,
           source_image_id: uuid.UUID | None = None, engine: str | None = None,
           mask: bytes | None = None, record: Callable[[Session, GenerationJob], None] | None = None) -> uuid.UUID:
    """Accept a request and queue it. Raises an ImagechatError with a user message; a refused request
    leaves no row behind.

    `source_image_id` names the "before" image of a change ("make it watercolor"): engines that can
    edit get its bytes; for the others its seed is reused, so the new picture keeps its composition.
    `engine` None means the request's engine, else the configured one; the request's model picks among the
    models the server offers (providers.get_provider). `mask` (a checked PNG from core.masks) limits the change
    to the area painted on the source image; it is stored with the job (job_masks) in the same transaction.
    `record(session, job)` runs inside that transaction too, after the row is written: the OpenAI-compatible API
    writes its request there (core.api_jobs), so its Idempotency-Key and the job exist together or not at all."""
    provider = get_provider(engine or request.engine, model=request.model)
    request = validate(request, provider)
    if mask is not None and (source_image_id is None or not provider.capabilities.edits):
        raise InvalidRequest("Painting an area to change needs an image to change and an engine that edits "
                             f"images; the {provider.name} engine here doesn't. Describe the change in the chat "
                             "instead.")
    limits.check_rate_limit(owner_id)  # Redis first: when it is down nothing is written
    try:
        edit = False
        if source_image_id is not None:
            source = library.get_image(owner_id, source_image_id)  # NotFound unless it is the owner's
            edit = provider.capabilities.edits
            if not edit and request.seed is None:
                request = replace(request, seed=source.seed)
        estimate = provider.estimate_cost(request)
        job = GenerationJob(
            owner_id=owner_id, conversation_id=conversation_id, kind=JobKind.EDIT if edit else JobKind.GENERATE,
            engine=provider.name, model=provider.model, prompt=request.prompt, source_image_id=source_image_id,
            reserved_usd=estimate, stage=admission.HELD, params=request.params(),
            request_key=None if source_image_id else cache.request_key(request, provider.name, provider.model),
        )
        with session_scope() as s:  # one transaction: the row, its reservation and its place in line
            s.add(job)
            s.flush()
            if mask is not None:
                s.add(JobMask(job_id=job.id, mask_b64=codec.to_b64(mask)))
            if record is not None:
                record(s, job)
            limits.reserve(s, owner_id=owner_id, job_id=job.id, amount_usd=estimate,
                           engine=provider.name, model=provider.model)
            admitted = admission.mark_admitted(s, owner_id)  # marks `job` itself when the owner has a free slot
            s.flush()
            position = admission.queue_position(s, job) if job.heartbeat_at else None
            stage = job.stage
    except ServiceUnavailable:
        raise ServiceUnavailable(NOTHING_QUEUED_DB) from None
    job_id = job.id
    try:
        progress.publish(ProgressEvent(job_id=str(job_id), status=JobStatus.QUEUED, stage=stage,
                                       queue_position=position))
        admission.enqueue(admitted, owner_id)
    except (RedisError, ServiceUnavailable) as exc:
        if _discard(job_id):
            log.warning("could not queue job %s; discarded it", job_id,
                        extra={"job_id": str(job_id), "user_id": owner_id})
            raise ServiceUnavailable(NOTHING_QUEUED_DB if isinstance(exc, ServiceUnavailable)
                                     else NOTHING_QUEUED_QUEUE) from None
        # It cannot be taken back (the database went away too, or a worker already has it): it stays
        # accepted, and recovery.reconcile puts it in line if its message never reached the queue.
        log.warning("job %s accepted; its queueing is left to recovery", job_id,
                    extra={"job_id": str(job_id), "user_id": owner_id})
    log.info("job queued", extra={"job_id": str(job_id), "user_id": owner_id, "engine": provider.name})
    return job_id


def _discard(job_id: uuid.UUID) -> bool:
    """Take back a job that never got on the queue, with its reservation: a refused submit leaves nothing.
    False when it cannot be taken back: the database is away, or a worker already claimed it."""
    try:
        with session_scope() as s:
            job = locked(s, job_id)
            if job is None:
                return True
            if job.status != JobStatus.QUEUED or job.attempts:
                return False
            s.execute(sa_delete(UsageEntry).where(UsageEntry.job_id == job_id))
            s.delete(job)
        return True
    except ServiceUnavailable:
        return False


def get_job(owner_id: int, job_id: uuid.UUID) -> GenerationJob:
    with session_scope() as s:
        job = s.exec(select(GenerationJob).where(GenerationJob.id == job_id,
                                                 GenerationJob.owner_id == owner_id)).first()
    if job is None:
        raise NotFound("That job doesn't exist, or it isn't yours.")
    return job


# ---------------------------------------------------------------- cancel / fail / recover


def locked(s: Session, job_id: uuid.UUID) -> GenerationJob | None:
    return s.exec(select(GenerationJob).where(GenerationJob.id == job_id).with_for_update()).first()


def cancel(owner_id: int, job_id: uuid.UUID) -> bool:
    """Cancel a queued or running job. False when it had already finished.

    A queued job's reservation is released at once. A running job's stays reserved until its worker
    has stopped the engine and settled what the provider billed (runner.run_job)."""
    with session_scope() as s:
        job = locked(s, job_id)
        if job is None or job.owner_id != owner_id:
            raise NotFound("That job doesn't exist, or it isn't yours.")
        if job.status in TERMINAL:
            return False
        was_running = job.status == JobStatus.RUNNING
        job.status, job.stage, job.finished_at = JobStatus.CANCELLED, "Cancelled", utcnow()
        if not was_running:
            limits.release(s, job.id)
        s.add(job)
        percent = job.percent
    redis_client.client().set(cancel_key(job_id), "1", ex=3600)
    previews.forget(str(job_id))
    progress.publish(ProgressEvent(job_id=str(job_id), status=JobStatus.CANCELLED, percent=percent,
                                   stage="Cancelled"))
    notifications.mark_ended(owner_id)
    log.info("job cancelled by its owner", extra={"job_id": str(job_id), "user_id": owner_id})
    if not was_running:
        admission.admit(owner_id)
    return True


def cancel_key(job_id: uuid.UUID | str) -> str:
    return redis_client.key("cancel", str(job_id))


def fail(job_id: uuid.UUID, message: str, code: str, *, attempt: int | None = None) -> None:
    """End the job as failed and release its reservation (the engine billed nothing or was never called)."""
    with session_scope() as s:
        job = locked(s, job_id)
        if job is None or job.status in TERMINAL or (attempt is not None and job.attempts != attempt):
            return
        job.status, job.stage, job.error, job.error_code = JobStatus.FAILED, "Failed", message, code
        job.finished_at = utcnow()
        limits.release(s, job.id)
        s.add(job)
        percent, owner_id = job.percent, job.owner_id
    log.info("job failed: %s", code, extra={"job_id": str(job_id), "user_id": owner_id})
    try:
        progress.publish(ProgressEvent(job_id=str(job_id), status=JobStatus.FAILED, percent=percent,
                                       stage="Failed", error=message, error_code=code))
        notifications.mark_ended(owner_id)
        previews.forget(str(job_id))
        admission.admit(owner_id)
    except RedisError:  # the database already says failed; a reload shows it, recovery admits the next job
        log.warning("could not publish the failure of job %s", job_id,
                    extra={"job_id": str(job_id), "user_id": owner_id})


def requeue(job_id: uuid.UUID, *, stage: str, delay_s: float, attempt: int | None = None) -> bool:
    with session_scope() as s:
        job = locked(s, job_id)
        if job is None or job.status in TERMINAL or (attempt is not None and job.attempts != attempt):
            return False
        # It keeps its slot: heartbeat_at now says when it went back on the queue.
        job.status, job.stage, job.heartbeat_at = JobStatus.QUEUED, stage, utcnow()
        s.add(job)
    progress.publish(ProgressEvent(job_id=str(job_id), status=JobStatus.QUEUED, percent=0, stage=stage))
    queue.enqueue(job_id, delay_ms=int(delay_s * 1000) or None)
    return True


def preview_bytes(owner_id: int, job_id: uuid.UUID) -> bytes | None:
    """The running job's newest preview; None once the job has ended (a cancelled job's stays private, a finished
    job's image replaces it). A tab can ask for a preview announced a moment before the job ended."""
    job = get_job(owner_id, job_id)
    if job.status in TERMINAL:
        return None
    data = previews.get(str(job_id))
    if data is None:
        raise NotFound("No preview is available for this job yet.")
    return data


def resubmit(owner_id: int, job_id: uuid.UUID) -> uuid.UUID:
    """A new job with the same request as one of the owner's earlier jobs (the chat's retry button)."""
    old = get_job(owner_id, job_id)
    request = replace(ImageRequest.from_params(old.prompt, old.params), model=old.model or None)
    return submit(owner_id, request, conversation_id=old.conversation_id, source_image_id=old.source_image_id,
                  engine=old.engine, mask=masks.job_mask(old.id))
