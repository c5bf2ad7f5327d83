"""Conversations and their messages, always scoped to the owner."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete as sa_delete
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
    images: list[ImageRef] = field(default_factory=list)
    before: ImageRef | None = None  # the source image of a change, for before/after


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
        conv = _owned(s, owner_id, conversation_id)
        message = Message(conversation_id=conv.id, owner_id=owner_id, role=role, content=clean_message(content),
                          job_id=job_id, error_code=error_code)
        s.add(message)
        if role == Role.USER and conv.title == DEFAULT_TITLE and clean_text(content):
            conv.title = _title(content)
        conv.updated_at = utcnow()
        s.add(conv)
        s.flush()
        return message


def attach_job(owner_id: int, message_id: int, job_id: uuid.UUID) -> None:
    with session_scope() as s:
        message = s.exec(select(Message).where(Message.id == message_id, Message.owner_id == owner_id)).first()
        if message is None:
            raise NotFound("That message doesn't exist, or it isn't yours.")
        message.job_id = job_id
        s.add(message)


def _ref(image: Image) -> ImageRef:
    return ImageRef(id=str(image.id), width=image.width, height=image.height, prompt=image.prompt,
                    style=image.style, parent_id=str(image.parent_image_id) if image.parent_image_id else None)


def messages(owner_id: int, conversation_id: int, *, limit: int = 200,
             message_ids: list[int] | None = None) -> list[MessageView]:
    """Oldest first, with each message's job state and images (metadata only, never bytes)."""
    with session_scope() as s:
        _owned(s, owner_id, conversation_id)
        query = select(Message).where(Message.conversation_id == conversation_id, Message.owner_id == owner_id)
        if message_ids is not None:
            query = query.where(Message.id.in_(message_ids))
        rows = list(reversed(s.exec(query.order_by(Message.created_at.desc(), Message.id.desc())
                                    .limit(limit)).all()))
        job_ids = [m.job_id for m in rows if m.job_id]
        found = s.exec(select(GenerationJob).where(GenerationJob.id.in_(job_ids),
                                                   GenerationJob.owner_id == owner_id)).all() if job_ids else []
        jobs_by_id = {j.id: j for j in found}
        images = s.exec(select(Image).where(Image.job_id.in_(job_ids), Image.owner_id == owner_id)
                        .order_by(Image.index_in_job)).all() if job_ids else []
        sources = {j.source_image_id for j in jobs_by_id.values() if j.source_image_id}
        befores = {i.id: i for i in s.exec(select(Image).where(Image.id.in_(sources),
                                                               Image.owner_id == owner_id)).all()} if sources else {}
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
            images=by_job.get(job.id, []) if job else [], before=_ref(before) if before else None))
    return views


def last_image(owner_id: int, conversation_id: int) -> Image | None:
    """The newest image made in this conversation: what "make it more ..." refers to."""
    with session_scope() as s:
        _owned(s, owner_id, conversation_id)
        return s.exec(select(Image).where(Image.conversation_id == conversation_id, Image.owner_id == owner_id)
                      .order_by(Image.created_at.desc(), Image.index_in_job).limit(1)).first()
