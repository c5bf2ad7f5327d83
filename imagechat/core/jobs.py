"""Job lifecycle: submit (validate, rate-limit, reserve budget, write the row, enqueue), cancel, and
recovery of jobs whose worker died. The worker side lives in runner.py.

States: queued -> running -> succeeded | failed | cancelled (a transient failure goes back to queued).
Every state change is one transaction on the job row (SELECT ... FOR UPDATE), so a redelivered or
duplicated message can never store an image twice or resurrect a finished job.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass, replace
from datetime import timedelta

from sqlalchemy import func, text
from sqlmodel import Session, select

from imagechat.core import library, limits, progress, queue
from imagechat.core.errors import EngineUnavailable, InvalidRequest, NotFound
from imagechat.core.progress import ProgressEvent
from imagechat.core.providers import get_provider
from imagechat.core.providers.base import GenerationRequest, ImageProvider
from imagechat.db import session_scope
from imagechat.models import GenerationJob, utcnow
from imagechat.settings import get_settings

log = logging.getLogger(__name__)

TERMINAL = progress.TERMINAL
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")
_RECONCILE_LOCK_KEY = 0x1A9EC4A8


@dataclass(frozen=True)
class JobRequest:
    owner_id: int
    prompt: str
    style: str | None = None
    width: int = 1024
    height: int = 1024
    n: int = 1
    seed: int | None = None
    quality: str = "auto"
    engine: str | None = None  # None = the configured engine
    conversation_id: int | None = None
    # The "before" image of a change ("make it watercolor"): sent to engines that can edit; for the
    # others its seed is reused, so the regenerated picture keeps its composition.
    source_image_id: uuid.UUID | None = None


def clean_prompt(raw: str) -> str:
    """Control and invisible characters become spaces; runs of white space collapse."""
    return " ".join(_CONTROL.sub(" ", raw or "").split())


def validate(req: JobRequest, provider: ImageProvider) -> JobRequest:
    """Return the cleaned request, or raise InvalidRequest saying what to change."""
    settings = get_settings()
    caps = provider.capabilities
    if len(req.prompt or "") > settings.max_prompt_chars:
        raise InvalidRequest(f"The prompt is {len(req.prompt)} characters long; the limit is "
                             f"{settings.max_prompt_chars}. Shorten it and try again.")
    prompt = clean_prompt(req.prompt)
    if not prompt:
        raise InvalidRequest("The prompt is empty. Describe the image you want, for example "
                             "\"a sunset over mountains with a lake reflection\".")
    style = (req.style or "").strip().lower() or None
    if style is not None and style not in caps.styles:
        raise InvalidRequest(f"Unknown style \"{style}\". Choose one of: {', '.join(caps.styles)}.")
    if (req.width, req.height) not in caps.sizes:
        sizes = ", ".join(f"{w}x{h}" for w, h in caps.sizes)
        raise InvalidRequest(f"The {provider.name} engine can't make {req.width}x{req.height} images. "
                             f"Choose one of: {sizes}.")
    max_n = min(caps.max_n, settings.max_images_per_request)
    if not 1 <= req.n <= max_n:
        raise InvalidRequest(f"You can ask for 1 to {max_n} images at a time.")
    if req.quality not in ("auto", "low", "medium", "high"):
        raise InvalidRequest("Quality must be one of: auto, low, medium, high.")
    if req.seed is not None and not 0 <= req.seed < 2**63:
        raise InvalidRequest("The seed must be a whole number between 0 and 2^63-1.")
    return replace(req, prompt=prompt, style=style)


def _queue_position(session: Session, job: GenerationJob) -> int:
    ahead = session.exec(
        select(func.count()).select_from(GenerationJob)
        .where(GenerationJob.status == "queued", GenerationJob.created_at < job.created_at)
    ).one()
    return int(ahead) + 1


def submit(req: JobRequest) -> uuid.UUID:
    """Accept a generation request and queue it. Raises an ImagechatError with a user message."""
    provider = get_provider(req.engine)
    req = validate(req, provider)
    edit = False
    if req.source_image_id is not None:
        source = library.get_image(req.owner_id, req.source_image_id)  # NotFound unless it is the owner's
        edit = provider.capabilities.edits
        if not edit and req.seed is None:
            req = replace(req, seed=source.seed)
    limits.check_rate_limit(req.owner_id)
    gen_request = generation_request(req, None)
    estimate = provider.estimate_cost(gen_request)
    job = GenerationJob(
        owner_id=req.owner_id, conversation_id=req.conversation_id,
        kind="edit" if edit else "generate", engine=provider.name, model=provider.model,
        prompt=req.prompt, source_image_id=req.source_image_id, reserved_usd=estimate,
        stage="Waiting for a worker",
        params={"style": req.style, "width": req.width, "height": req.height, "n": req.n, "seed": req.seed,
                "quality": req.quality},
    )
    with session_scope() as s:
        s.add(job)
        s.flush()
        limits.reserve(s, owner_id=req.owner_id, job_id=job.id, amount_usd=estimate,
                       engine=provider.name, model=provider.model)
        position = _queue_position(s, job)
    try:
        progress.publish(ProgressEvent(job_id=str(job.id), status="queued", stage="Waiting for a worker",
                                       queue_position=position))
        queue.enqueue(job.id)
    except Exception:
        log.exception("enqueue failed for job %s", job.id)
        message = "The image queue is unreachable right now. Try again in a minute."
        fail(job.id, message, "queue_unavailable")
        raise EngineUnavailable(message) from None
    log.info("job %s queued (engine=%s, owner=%s, position=%s)", job.id, provider.name, req.owner_id, position)
    return job.id


def generation_request(req: JobRequest, source: bytes | None) -> GenerationRequest:
    return GenerationRequest(prompt=req.prompt, style=req.style, width=req.width, height=req.height, n=req.n,
                             seed=req.seed, quality=req.quality, source_image=source, user=f"u{req.owner_id}")


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
        job.status, job.stage, job.finished_at = "cancelled", "Cancelled", utcnow()
        limits.release(s, job.id)
        s.add(job)
    progress.client().set(cancel_key(job_id), "1", ex=3600)
    progress.publish(ProgressEvent(job_id=str(job_id), status="cancelled", percent=job.percent, stage="Cancelled"))
    log.info("job %s cancelled by owner", job_id)
    return True


def cancel_key(job_id: uuid.UUID | str) -> str:
    return progress.key("cancel", str(job_id))


def fail(job_id: uuid.UUID, message: str, code: str, *, attempt: int | None = None) -> None:
    with session_scope() as s:
        job = locked(s, job_id)
        if job is None or job.status in TERMINAL or (attempt is not None and job.attempts != attempt):
            return
        job.status, job.stage, job.error, job.error_code, job.finished_at = "failed", "Failed", message, code, utcnow()
        limits.release(s, job.id)
        s.add(job)
        percent = job.percent
    try:
        progress.publish(ProgressEvent(job_id=str(job_id), status="failed", percent=percent, stage="Failed",
                                       error=message, error_code=code))
    except Exception:  # the database already says failed; a page reload shows it
        log.exception("could not publish the failure of job %s", job_id)


def requeue(job_id: uuid.UUID, *, stage: str, delay_s: float, attempt: int | None = None) -> bool:
    with session_scope() as s:
        job = locked(s, job_id)
        if job is None or job.status in TERMINAL or (attempt is not None and job.attempts != attempt):
            return False
        job.status, job.stage, job.heartbeat_at = "queued", stage, None
        s.add(job)
    progress.publish(ProgressEvent(job_id=str(job_id), status="queued", percent=0, stage=stage))
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
            .where(GenerationJob.status == "running", GenerationJob.heartbeat_at < cutoff)
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
    data = progress.client().get(progress.key("preview", str(job_id)))
    if data is None:
        raise NotFound("No preview is available for this job yet.")
    return data


def resubmit(owner_id: int, job_id: uuid.UUID) -> uuid.UUID:
    """A new job with the same request as one of the owner's earlier jobs (the chat's retry button)."""
    old = get_job(owner_id, job_id)
    p = old.params
    return submit(JobRequest(owner_id=owner_id, prompt=old.prompt, style=p.get("style"), width=p["width"],
                             height=p["height"], n=p["n"], seed=p.get("seed"), quality=p.get("quality", "auto"),
                             engine=old.engine, conversation_id=old.conversation_id,
                             source_image_id=old.source_image_id))
