"""Conversations and their messages, always scoped to the owner."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete as sa_delete
from sqlalchemy import func, tuple_
from sqlmodel import Session, select

from imagechat.core.errors import InvalidRequest, NotFound
from imagechat.core.text import clean_message, clean_text
from imagechat.db import session_scope
from imagechat.models import Conversation, GenerationJob, Image, Message, Role, utcnow

TITLE_MAX = 80
DEFAULT_TITLE = "New chat"


@dataclass
class ImageRef:
    id: str
    width: int
    height: int
    prompt: str
    style: str | None
    parent_id: str | None
    favorite: bool = False
    deleted: bool = False  # soft-deleted (core.organise): the chat says so instead of showing a broken picture
    engine: str = ""
    model: str = ""
    seed: int | None = None  # None where the engine takes none (OpenAI)


@dataclass
class MessageView:
    """A message with what the chat needs to draw it: its job's state and images."""

    id: int
    role: str
    content: str
    created_at: datetime
    job_id: str | None = None
    job_status: str | None = None
    job_error: str | None = None
    job_kind: str | None = None
    error_code: str | None = None  # the reply reports a refused request: the UI offers Retry
    from_library: bool = False  # answered with the images of an identical earlier request, at no cost
    images: list[ImageRef] = field(default_factory=list)
    before: ImageRef | None = None  # the source image of a change, for before/after
    # What the job was asked for (its params: style, width, height, n, quality, ...) and who makes it.
    job_params: dict = field(default_factory=dict)
    job_engine: str = ""
    job_model: str = ""
    job_cost_usd: float = 0.0  # what the job was charged (all its images together)


def _owned(s: Session, owner_id: int, conversation_id: int) -> Conversation:
    conv = s.exec(select(Conversation).where(Conversation.id == conversation_id,
                                             Conversation.owner_id == owner_id)).first()
    if conv is None:
        raise NotFound("That conversation doesn't exist, or it isn't yours.")
    return conv


def _title(text: str) -> str:
    title = clean_text(text)
    if not title:
        raise InvalidRequest("A conversation needs a name.")
    return title if len(title) <= TITLE_MAX else title[: TITLE_MAX - 1].rstrip() + "…"


def create(owner_id: int, title: str = DEFAULT_TITLE) -> Conversation:
    with session_scope() as s:
        conv = Conversation(owner_id=owner_id, title=_title(title))
        s.add(conv)
        s.flush()
        return conv


def list_for(owner_id: int, limit: int = 200) -> list[Conversation]:
    with session_scope() as s:
        return list(s.exec(select(Conversation).where(Conversation.owner_id == owner_id)
                           .order_by(Conversation.updated_at.desc()).limit(limit)).all())


def get(owner_id: int, conversation_id: int) -> Conversation:
    with session_scope() as s:
        return _owned(s, owner_id, conversation_id)


def rename(owner_id: int, conversation_id: int, title: str) -> Conversation:
    with session_scope() as s:
        conv = _owned(s, owner_id, conversation_id)
        conv.title = _title(title)
        s.add(conv)
        return conv


def delete(owner_id: int, conversation_id: int) -> None:
    """Delete the conversation and its messages; its images stay in the gallery."""
    with session_scope() as s:
        conv = _owned(s, owner_id, conversation_id)
        s.execute(sa_delete(Message).where(Message.conversation_id == conv.id))
        s.delete(conv)


def add_message(owner_id: int, conversation_id: int, role: Role, content: str,
                job_id: uuid.UUID | None = None, error_code: str | None = None) -> Message:
    """Append a message; the first user message names an untitled conversation."""
    with session_scope() as s:
        return add_message_in(s, owner_id, conversation_id, role, content, job_id=job_id, error_code=error_code)


def add_message_in(s: Session, owner_id: int, conversation_id: int, role: Role, content: str, *,
                   job_id: uuid.UUID | None = None, error_code: str | None = None,
                   from_library: bool = False) -> Message:
    """add_message inside the caller's transaction (with what must be written together with it)."""
    conv = _owned(s, owner_id, conversation_id)
    message = Message(conversation_id=conv.id, owner_id=owner_id, role=role, content=clean_message(content),
                      job_id=job_id, error_code=error_code, from_library=from_library)
    s.add(message)
    if role == Role.USER and conv.title == DEFAULT_TITLE and clean_text(content):
        conv.title = _title(content)
    conv.updated_at = utcnow()
    s.add(conv)
    s.flush()
    return message


def user_message_before(owner_id: int, conversation_id: int, message_id: int) -> str | None:
    """The words of the user's message just before this one (however long the conversation is), or None."""
    with session_scope() as s:
        anchor = s.exec(select(Message).where(Message.id == message_id, Message.owner_id == owner_id,
                                              Message.conversation_id == conversation_id)).first()
        if anchor is None:
            return None
        return s.exec(select(Message.content).where(
            Message.conversation_id == conversation_id, Message.owner_id == owner_id, Message.role == Role.USER,
            tuple_(Message.created_at, Message.id) < tuple_(anchor.created_at, anchor.id),
        ).order_by(Message.created_at.desc(), Message.id.desc()).limit(1)).first()


def attach_job(owner_id: int, message_id: int, job_id: uuid.UUID) -> None:
    with session_scope() as s:
        message = s.exec(select(Message).where(Message.id == message_id, Message.owner_id == owner_id)).first()
        if message is None:
            raise NotFound("That message doesn't exist, or it isn't yours.")
        message.job_id = job_id
        s.add(message)


_IMAGE_COLUMNS = (Image.id, Image.job_id, Image.width, Image.height, Image.prompt, Image.style,
                  Image.parent_image_id, Image.favorite, Image.deleted_at, Image.engine, Image.model, Image.seed)


def _ref(row) -> ImageRef:
    return ImageRef(id=str(row.id), width=row.width, height=row.height, prompt=row.prompt, style=row.style,
                    parent_id=str(row.parent_image_id) if row.parent_image_id else None,
                    favorite=bool(row.favorite), deleted=row.deleted_at is not None, engine=row.engine,
                    model=row.model or "", seed=row.seed)


def _views(s: Session, owner_id: int, rows: list[Message]) -> list[MessageView]:
    """Views of the given messages (already the owner's), with their jobs and images: three queries whatever
    the count, reading image metadata only (never the payload)."""
    job_ids = [m.job_id for m in rows if m.job_id]
    found = s.exec(select(GenerationJob).where(GenerationJob.id.in_(job_ids),
                                               GenerationJob.owner_id == owner_id)).all() if job_ids else []
    jobs_by_id = {j.id: j for j in found}
    images = s.exec(select(*_IMAGE_COLUMNS).where(Image.job_id.in_(job_ids), Image.owner_id == owner_id)
                    .order_by(Image.job_id, Image.index_in_job)).all() if job_ids else []
    sources = {j.source_image_id for j in jobs_by_id.values() if j.source_image_id}
    befores = {i.id: i for i in s.exec(select(*_IMAGE_COLUMNS).where(Image.id.in_(sources),
                                                                      Image.owner_id == owner_id)).all()} \
        if sources else {}
    by_job: dict[uuid.UUID, list[ImageRef]] = {}
    for image in images:
        by_job.setdefault(image.job_id, []).append(_ref(image))
    views = []
    for m in rows:
        job = jobs_by_id.get(m.job_id) if m.job_id else None
        before = befores.get(job.source_image_id) if job and job.source_image_id else None
        views.append(MessageView(
            id=m.id, role=m.role, content=m.content, created_at=m.created_at,
            job_id=str(job.id) if job else None, job_status=job.status if job else None,
            job_error=job.error if job else None, job_kind=job.kind if job else None, error_code=m.error_code,
            from_library=m.from_library,
            images=by_job.get(job.id, []) if job else [], before=_ref(before) if before else None,
            job_params=dict(job.params or {}) if job else {}, job_engine=job.engine if job else "",
            job_model=job.model if job else "", job_cost_usd=float(job.cost_usd or 0.0) if job else 0.0))
    return views


def _in_conversation(owner_id: int, conversation_id: int):
    return select(Message).where(Message.conversation_id == conversation_id, Message.owner_id == owner_id)


def messages(owner_id: int, conversation_id: int, *, limit: int = 200,
             message_ids: list[int] | None = None) -> list[MessageView]:
    """Oldest first, with each message's job state and images (metadata only, never bytes): the newest
    `limit`, or only those of `message_ids` that are in this conversation."""
    with session_scope() as s:
        _owned(s, owner_id, conversation_id)
        query = _in_conversation(owner_id, conversation_id)
        if message_ids is not None:
            query = query.where(Message.id.in_(message_ids))
        rows = list(reversed(s.exec(query.order_by(Message.created_at.desc(), Message.id.desc())
                                    .limit(limit)).all()))
        return _views(s, owner_id, rows)


# ---------------------------------------------------------------- paging a long conversation

PAGE_SIZE = 40  # messages a conversation opens on, and each older page
MAX_PAGE = 200
MAX_THROUGH = 1000  # a deep link loads at most this many messages (its target and everything newer)
CONTEXT_BEFORE = 4  # a deep link also shows a few messages before its target


@dataclass
class History:
    """Consecutive messages of one conversation, oldest first; `has_older`: more exist before the first."""

    messages: list[MessageView]
    has_older: bool


def _position(s: Session, owner_id: int, conversation_id: int, message_id: int) -> tuple[datetime, int]:
    row = s.exec(select(Message.created_at, Message.id).where(
        Message.id == message_id, Message.conversation_id == conversation_id, Message.owner_id == owner_id)).first()
    if row is None:
        raise NotFound("That message isn't in this conversation any more.")
    return row[0], row[1]


def _newest_first(s: Session, owner_id: int, conversation_id: int, limit: int,
                  before: tuple[datetime, int] | None = None) -> History:
    """Keyset on (created_at, id), served by ix_messages_conversation_created_id; never OFFSET."""
    query = _in_conversation(owner_id, conversation_id)
    if before is not None:
        query = query.where(tuple_(Message.created_at, Message.id) < tuple_(*before))
    rows = list(s.exec(query.order_by(Message.created_at.desc(), Message.id.desc()).limit(limit + 1)).all())
    has_older = len(rows) > limit
    return History(_views(s, owner_id, list(reversed(rows[:limit]))), has_older)


def _page_size(limit: object) -> int:
    return min(max(1, limit), MAX_PAGE) if type(limit) is int else PAGE_SIZE


def latest(owner_id: int, conversation_id: int, *, limit: int = PAGE_SIZE) -> History:
    """The newest `limit` messages: what a conversation opens on."""
    with session_scope() as s:
        _owned(s, owner_id, conversation_id)
        return _newest_first(s, owner_id, conversation_id, _page_size(limit))


def older(owner_id: int, conversation_id: int, before_id: int, *, limit: int = PAGE_SIZE) -> History:
    """The `limit` messages just before message `before_id` (which must be in this conversation)."""
    with session_scope() as s:
        _owned(s, owner_id, conversation_id)
        before = _position(s, owner_id, conversation_id, before_id)
        return _newest_first(s, owner_id, conversation_id, _page_size(limit), before)


def through(owner_id: int, conversation_id: int, message_id: int, *, context: int = CONTEXT_BEFORE,
            limit: int = MAX_THROUGH) -> History:
    """Everything from a few messages before `message_id` to the newest: what a deep link to it shows.
    InvalidRequest when that is more than `limit` messages (the conversation then opens on its newest)."""
    with session_scope() as s:
        _owned(s, owner_id, conversation_id)
        at = _position(s, owner_id, conversation_id, message_id)
        newer = s.exec(select(func.count()).select_from(Message).where(
            Message.conversation_id == conversation_id, Message.owner_id == owner_id,
            tuple_(Message.created_at, Message.id) >= tuple_(*at))).one()
        if newer > limit:
            raise InvalidRequest("That message is too far back to open directly; scroll up to find it.")
        return _newest_first(s, owner_id, conversation_id, newer + max(0, context))


def last_image(owner_id: int, conversation_id: int) -> Image | None:
    """What "make it more ..." refers to: the newest image made in this conversation, or the one of a batch
    the user chose to continue from (set_focus) if no image was made since."""
    with session_scope() as s:
        conv = _owned(s, owner_id, conversation_id)
        newest = s.exec(select(Image).where(Image.conversation_id == conversation_id, Image.owner_id == owner_id,
                                            Image.deleted_at.is_(None))
                        .order_by(Image.created_at.desc(), Image.index_in_job).limit(1)).first()
        if conv.focus_image_id and conv.focus_set_at and (newest is None or conv.focus_set_at >= newest.created_at):
            focus = s.exec(select(Image).where(Image.id == conv.focus_image_id, Image.owner_id == owner_id,
                                               Image.deleted_at.is_(None))).first()
            if focus is not None:
                return focus
        return newest


def set_focus(owner_id: int, conversation_id: int, image_id: uuid.UUID) -> Image:
    """"Continue from this one": the next change in this conversation works on this image (one of its own)."""
    with session_scope() as s:
        conv = _owned(s, owner_id, conversation_id)
        image = s.exec(select(Image).where(Image.id == image_id, Image.owner_id == owner_id,
                                           Image.conversation_id == conv.id, Image.deleted_at.is_(None))).first()
        if image is None:
            raise NotFound("That image isn't in this conversation any more.")
        conv.focus_image_id, conv.focus_set_at = image.id, utcnow()
        s.add(conv)
        return image
