"""The history of a user's generation jobs: every job, failed and cancelled ones included, newest first.

Read side: `page` (full-text search over the prompt, a status filter, keyset pagination on (created_at, id))
and `entries` (a few jobs again, for live status). Write side: `retry`, which resubmits a failed or
cancelled job through jobs.resubmit (validation, rate limit and budget, as any new request).
Everything is scoped to the owner; deleted images are never listed.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, literal_column, tuple_
from sqlmodel import select

from imagechat.core import jobs
from imagechat.core.errors import InvalidRequest
from imagechat.core.text import clean_text
from imagechat.db import session_scope
from imagechat.models import GenerationJob, Image, JobStatus, Message, Role

PAGE_SIZE = 30
MAX_PAGE = 100
QUERY_CHARS = 200
MAX_WORDS = 12
STATUSES = tuple(s.value for s in JobStatus)
RETRYABLE = frozenset({JobStatus.FAILED, JobStatus.CANCELLED})
BAD_CURSOR = "That page of the history is no longer valid. Reload the page to start again from the newest job."
NOT_RETRYABLE = "Only failed or cancelled jobs can be retried. To make this image again, ask for it in the chat."

# Letters and digits only: the words become a tsquery, so no operator, quote or colon may pass.
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class HistoryQuery:
    text: str = ""
    status: str = ""  # "" or one of STATUSES


def parse_query(params: Mapping[str, object]) -> HistoryQuery:
    """From the URL's ?q= and ?status=; an invalid value (wrong type, too long, unknown status) is dropped."""
    text = params.get("q", "")
    text = clean_text(text) if isinstance(text, str) and len(text) <= QUERY_CHARS else ""
    status = params.get("status", "")
    status = status if isinstance(status, str) and status in STATUSES else ""
    return HistoryQuery(text=text, status=status)


def query_params(query: HistoryQuery) -> dict[str, str]:
    """The inverse of parse_query: only the values that are set."""
    return {k: v for k, v in (("q", query.text), ("status", query.status)) if v}


def tsquery_text(text: str) -> str:
    """A to_tsquery input built from the words of `text` (never the text itself): every word must match,
    the last one as a prefix, so a search narrows while the user types. "" when there are no words."""
    words = _WORD.findall(text.lower())[:MAX_WORDS]
    if not words:
        return ""
    return " & ".join([*words[:-1], words[-1] + ":*"])


@dataclass
class JobEntry:
    id: str
    prompt: str
    status: str  # a JobStatus
    stage: str
    percent: float
    error: str  # user-safe text of a failure (jobs.fail); "" otherwise
    kind: str
    engine: str
    model: str
    style: str
    width: int
    height: int
    n: int
    quality: str
    seed: int | None
    cost_usd: float
    reserved_usd: float
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    conversation_id: int | None  # where it was asked for; None when that conversation is gone
    message_id: int | None  # the assistant message showing the job, if it still does
    image_ids: list[str] = field(default_factory=list)  # not deleted, in the job's order

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return max(0.0, (self.finished_at - self.started_at).total_seconds())

    @property
    def retryable(self) -> bool:
        return self.status in RETRYABLE


@dataclass
class Page:
    entries: list[JobEntry]
    next_cursor: str | None  # opaque; None on the last page


def _encode_cursor(created_at: datetime, job_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{job_id}".encode()).decode()


def _decode_cursor(cursor: object) -> tuple[datetime, uuid.UUID]:
    if not isinstance(cursor, str) or len(cursor) > 200:
        raise InvalidRequest(BAD_CURSOR)
    try:
        stamp, job_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        created_at = datetime.fromisoformat(stamp)
        parsed = uuid.UUID(job_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidRequest(BAD_CURSOR) from None
    if created_at.tzinfo is None:
        raise InvalidRequest(BAD_CURSOR)
    return created_at, parsed


_ENGLISH = literal_column("'english'::regconfig")  # a literal, so the GIN expression index ix_jobs_prompt_fts applies


def _entries(s, owner_id: int, rows: Sequence[GenerationJob]) -> list[JobEntry]:
    """Rows with their chat message and their images (two indexed lookups for the whole page)."""
    ids = [j.id for j in rows]
    if not ids:
        return []
    messages = s.exec(select(Message.job_id, Message.id, Message.conversation_id)
                      .where(Message.job_id.in_(ids), Message.owner_id == owner_id, Message.role == Role.ASSISTANT)
                      .order_by(Message.id)).all()
    message_of = {job_id: (mid, cid) for job_id, mid, cid in messages}
    images = s.exec(select(Image.job_id, Image.id)
                    .where(Image.job_id.in_(ids), Image.owner_id == owner_id, Image.deleted_at.is_(None))
                    .order_by(Image.job_id, Image.index_in_job)).all()
    images_of: dict[uuid.UUID, list[str]] = {}
    for job_id, image_id in images:
        images_of.setdefault(job_id, []).append(str(image_id))
    out = []
    for j in rows:
        params = j.params if isinstance(j.params, dict) else {}
        # A job whose message moved on to its retry still links to its conversation.
        message_id, conversation_id = message_of.get(j.id, (None, j.conversation_id))
        out.append(JobEntry(
            id=str(j.id), prompt=j.prompt, status=j.status, stage=j.stage, percent=j.percent,
            error=j.error or "", kind=j.kind, engine=j.engine, model=j.model, style=params.get("style") or "",
            width=int(params.get("width") or 0), height=int(params.get("height") or 0), n=int(params.get("n") or 1),
            quality=params.get("quality") or "", seed=params.get("seed"), cost_usd=j.cost_usd,
            reserved_usd=j.reserved_usd, attempts=j.attempts, created_at=j.created_at, started_at=j.started_at,
            finished_at=j.finished_at, conversation_id=conversation_id, message_id=message_id,
            image_ids=images_of.get(j.id, [])))
    return out


def conditions(s, owner_id: int, query: HistoryQuery) -> list:
    """The WHERE terms of a query: the owner, the status, the words (matched through ix_jobs_prompt_fts)."""
    terms = [GenerationJob.owner_id == owner_id]
    if query.status in STATUSES:
        terms.append(GenerationJob.status == query.status)
    words = tsquery_text(query.text) if isinstance(query.text, str) else ""
    if words:
        tsquery = func.to_tsquery(_ENGLISH, words)
        # Only stop words ("the", "a"): PostgreSQL would match nothing; search as if nothing was typed.
        if s.exec(select(func.numnode(tsquery))).one() > 0:
            terms.append(func.to_tsvector(_ENGLISH, GenerationJob.prompt).op("@@")(tsquery))
    return terms


def page(owner_id: int, query: HistoryQuery = HistoryQuery(), *, cursor: str | None = None,
         limit: int = PAGE_SIZE) -> Page:
    """One page of the owner's jobs, newest first. Pass the previous page's next_cursor for the next one:
    keyset pagination, so jobs added meanwhile never shift a page (no gaps, no repeats).
    A malformed or forged cursor raises InvalidRequest."""
    limit = min(max(1, limit), MAX_PAGE) if type(limit) is int else PAGE_SIZE
    after = _decode_cursor(cursor) if cursor is not None else None
    with session_scope() as s:
        stmt = select(GenerationJob).where(*conditions(s, owner_id, query))
        if after is not None:
            stmt = stmt.where(tuple_(GenerationJob.created_at, GenerationJob.id) < tuple_(*after))
        rows = s.exec(stmt.order_by(GenerationJob.created_at.desc(), GenerationJob.id.desc()).limit(limit + 1)).all()
        more = len(rows) > limit
        rows = rows[:limit]
        entries = _entries(s, owner_id, rows)
    last = rows[-1] if more else None
    return Page(entries=entries, next_cursor=_encode_cursor(last.created_at, last.id) if last else None)


def count(owner_id: int, query: HistoryQuery = HistoryQuery()) -> int:
    """How many of the owner's jobs match (the same filters as `page`)."""
    with session_scope() as s:
        return s.exec(select(func.count()).select_from(GenerationJob).where(*conditions(s, owner_id, query))).one()


def entries(owner_id: int, job_ids: Sequence[uuid.UUID]) -> list[JobEntry]:
    """These jobs as the history shows them (others' ids are left out), newest first."""
    job_ids = list(job_ids)[:MAX_PAGE]
    if not job_ids:
        return []
    with session_scope() as s:
        rows = s.exec(select(GenerationJob).where(GenerationJob.id.in_(job_ids), GenerationJob.owner_id == owner_id)
                      .order_by(GenerationJob.created_at.desc(), GenerationJob.id.desc())).all()
        return _entries(s, owner_id, rows)


def retry(owner_id: int, job_id: uuid.UUID) -> uuid.UUID:
    """Run a failed or cancelled job again: a new job with the same request (validated, rate-limited and
    budgeted like any other). Its chat message then follows the new job, as the chat's own Retry does.
    NotFound for another user's job; InvalidRequest for a job that did not fail or get cancelled."""
    old = jobs.get_job(owner_id, job_id)
    if old.status not in RETRYABLE:
        raise InvalidRequest(NOT_RETRYABLE)
    new_id = jobs.resubmit(owner_id, job_id)
    with session_scope() as s:
        message = s.exec(select(Message).where(Message.job_id == job_id, Message.owner_id == owner_id,
                                               Message.role == Role.ASSISTANT).order_by(Message.id)).first()
        if message is not None:
            message.job_id = new_id
            s.add(message)
    return new_id
