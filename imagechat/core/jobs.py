"""Job lifecycle: submit (validate, rate-limit, reserve budget, write the row, enqueue), cancel, and
recovery of jobs whose worker died. The worker side lives in runner.py.

States: queued -> running -> succeeded | failed | cancelled (a transient failure goes back to queued).
Every state change is one transaction on the job row (SELECT ... FOR UPDATE), so a redelivered or
duplicated message can never store an image twice or resurrect a finished job.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import func, text
from sqlmodel import Session, select

from imagechat.core import library, limits, previews, progress, queue, redis_client
from imagechat.core.errors import EngineUnavailable, InvalidRequest, NotFound
from imagechat.core.progress import ProgressEvent
from imagechat.core.providers import get_provider
from imagechat.core.providers.base import ImageProvider
from imagechat.core.request import QUALITIES, ImageRequest
from imagechat.core.styles import check_style
from imagechat.core.text import clean_text
from imagechat.db import session_scope
from imagechat.models import TERMINAL, GenerationJob, JobKind, JobStatus, utcnow
from imagechat.settings import get_settings

log = logging.getLogger(__name__)

WAITING = "Waiting for a worker"
_RECONCILE_LOCK_KEY = 0x1A9EC4A8


def validate(request: ImageRequest, provider: ImageProvider) -> ImageRequest:
    """Return the cleaned request, or raise InvalidRequest saying what to change."""
    settings = get_settings()
    caps = provider.capabilities
    if len(request.prompt or "") > settings.max_prompt_chars:
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
    if request.quality not in QUALITIES:
        raise InvalidRequest(f"Quality must be one of: {', '.join(QUALITIES)}.")
    if request.seed is not None and not 0 <= request.seed < 2**63:
        raise InvalidRequest("The seed must be a whole number between 0 and 2^63-1.")
    return replace(request, prompt=prompt, style=style, source_image=None, user=None)


def _queue_position(session: Session, job: GenerationJob) -> int:
    ahead = session.exec(
        select(func.count()).select_from(GenerationJob)
        .where(GenerationJob.status == JobStatus.QUEUED, GenerationJob.created_at < job.created_at)
    ).one()
    return int(ahead) + 1


def submit(owner_id: int, request: ImageRequest, *, conversation_id: int | None = None,
           source_image_id: uuid.UUID | None = None, engine: str | None = None) -> uuid.UUID:
    """Accept a request and queue it. Raises an ImagechatError with a user message.

    `source_image_id` names the "before" image of a change ("make it watercolor"): engines that can
    edit get its bytes; for the others its seed is reused, so the new picture keeps its composition.
    `engine` None means the configured engine."""
    provider = get_provider(engine)
    request = validate(request, provider)
    edit = False
    if source_image_id is not None:
        source = library.get_image(owner_id, source_image_id)  # NotFound unless it is the owner's
        edit = provider.capabilities.edits
        if not edit and request.seed is None:
            request = replace(request, seed=source.seed)
    limits.check_rate_limit(owner_id)
    estimate = provider.estimate_cost(request)
    job = GenerationJob(
        owner_id=owner_id, conversation_id=conversation_id, kind=JobKind.EDIT if edit else JobKind.GENERATE,
        engine=provider.name, model=provider.model, prompt=request.prompt, source_image_id=source_image_id,
        reserved_usd=estimate, stage=WAITING, params=request.params(),
    )
    with session_scope() as s:
        s.add(job)
        s.flush()
        limits.reserve(s, owner_id=owner_id, job_id=job.id, amount_usd=estimate,
                       engine=provider.name, model=provider.model)
        position = _queue_position(s, job)
    try:
        progress.publish(ProgressEvent(job_id=str(job.id), status=JobStatus.QUEUED, stage=WAITING,
                                       queue_position=position))
        queue.enqueue(job.id)
    except Exception:
        log.exception("enqueue failed for job %s", job.id)
        message = "The image queue is unreachable right now. Try again in a minute."
        fail(job.id, message, "queue_unavailable")
        raise EngineUnavailable(message) from None
    log.info("job %s queued (engine=%s, owner=%s, position=%s)", job.id, provider.name, owner_id, position)
    return job.id


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
    """Cancel a queued or running job. False when it had already finished."""
    with session_scope() as s:
        job = locked(s, job_id)
        if job is None or job.owner_id != owner_id:
            raise NotFound("That job doesn't exist, or it isn't yours.")
        if job.status in TERMINAL:
            return False
        job.status, job.stage, job.finished_at = JobStatus.CANCELLED, "Cancelled", utcnow()
        limits.release(s, job.id)
        s.add(job)
    redis_client.client().set(cancel_key(job_id), "1", ex=3600)
    progress.publish(ProgressEvent(job_id=str(job_id), status=JobStatus.CANCELLED, percent=job.percent, stage="Cancelled"))
    log.info("job %s cancelled by owner", job_id)
    return True


def cancel_key(job_id: uuid.UUID | str) -> str:
    return redis_client.key("cancel", str(job_id))


def fail(job_id: uuid.UUID, message: str, code: str, *, attempt: int | None = None) -> None:
    with session_scope() as s:
        job = locked(s, job_id)
        if job is None or job.status in TERMINAL or (attempt is not None and job.attempts != attempt):
            return
        job.status, job.stage, job.error, job.error_code, job.finished_at = JobStatus.FAILED, "Failed", message, code, utcnow()
        limits.release(s, job.id)
        s.add(job)
        percent = job.percent
    try:
        progress.publish(ProgressEvent(job_id=str(job_id), status=JobStatus.FAILED, percent=percent, stage="Failed",
                                       error=message, error_code=code))
    except Exception:  # the database already says failed; a page reload shows it
        log.exception("could not publish the failure of job %s", job_id)


def requeue(job_id: uuid.UUID, *, stage: str, delay_s: float, attempt: int | None = None) -> bool:
    with session_scope() as s:
        job = locked(s, job_id)
        if job is None or job.status in TERMINAL or (attempt is not None and job.attempts != attempt):
            return False
        job.status, job.stage, job.heartbeat_at = JobStatus.QUEUED, stage, None
        s.add(job)
    progress.publish(ProgressEvent(job_id=str(job_id), status=JobStatus.QUEUED, percent=0, stage=stage))
    queue.enqueue(job_id, delay_ms=int(delay_s * 1000) or None)
    return True


def reconcile_stale_jobs() -> int:
    """Requeue (or fail, when out of attempts) running jobs whose worker stopped sending heartbeats.

    Any process may call this; a try-lock makes concurrent calls cheap no-ops. Returns how many jobs
    were recovered.
    """
    settings = get_settings()
    cutoff = utcnow() - timedelta(seconds=settings.job_stale_after_s)
    with session_scope() as s:
        if not s.execute(text("SELECT pg_try_advisory_xact_lock(:k)").bindparams(k=_RECONCILE_LOCK_KEY)).scalar():
            return 0
        stale = s.exec(
            select(GenerationJob.id, GenerationJob.attempts)
            .where(GenerationJob.status == JobStatus.RUNNING, GenerationJob.heartbeat_at < cutoff)
            .with_for_update(skip_locked=True)
        ).all()
    recovered = 0
    for job_id, attempts in stale:
        if attempts >= settings.job_max_attempts:
            fail(job_id, "The worker stopped while making this image, too many times. Try again.",
                  "worker_lost", attempt=attempts)
        else:
            requeue(job_id, stage="Restarting after a worker stopped", delay_s=0, attempt=attempts)
        log.warning("recovered stale job %s (attempts=%s)", job_id, attempts)
        recovered += 1
    return recovered


def preview_bytes(owner_id: int, job_id: uuid.UUID) -> bytes:
    get_job(owner_id, job_id)
    data = previews.get(str(job_id))
    if data is None:
        raise NotFound("No preview is available for this job yet.")
    return data


def resubmit(owner_id: int, job_id: uuid.UUID) -> uuid.UUID:
    """A new job with the same request as one of the owner's earlier jobs (the chat's retry button)."""
    old = get_job(owner_id, job_id)
    return submit(owner_id, ImageRequest.from_params(old.prompt, old.params), conversation_id=old.conversation_id,
                  source_image_id=old.source_image_id, engine=old.engine)
