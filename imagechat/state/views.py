"""What the chat and gallery pages draw, as plain dataclasses, and the pure functions that fill them.

No Reflex here: the states hold lists of these, and the functions are tested on their own."""

from __future__ import annotations

import dataclasses
import uuid

from imagechat.core.conversations import MessageView
from imagechat.core.progress import ProgressEvent
from imagechat.models import JobStatus


@dataclasses.dataclass
class ConversationItem:
    id: int
    title: str


@dataclasses.dataclass
class ChatMessage:
    id: int  # <= 0: a placeholder shown until the turn is saved
    role: str  # a Role
    text: str
    job_id: str = ""
    status: str = ""  # "" (no job) or a JobStatus
    percent: int = 0  # whole percent: what the bar and the label show
    stage: str = ""
    preview_url: str = ""
    queue_position: int = 0
    error: str = ""
    image_ids: list[str] = dataclasses.field(default_factory=list)
    prompt: str = ""  # what the images were made from ("reuse prompt")
    before_id: str = ""  # the source of a change: shown before/after
    retryable: bool = False  # a refused request (rate limit, budget, ...): the reply offers Retry


@dataclasses.dataclass
class GalleryItem:
    id: str
    prompt: str
    style: str
    engine: str
    size: str
    created: str


def chat_message(view: MessageView) -> ChatMessage:
    return ChatMessage(id=view.id, role=view.role, text=view.content, job_id=view.job_id or "",
                       status=view.job_status or "", error=view.job_error or "",
                       percent=100 if view.job_status == JobStatus.SUCCEEDED else 0,
                       image_ids=[i.id for i in view.images], prompt=view.images[0].prompt if view.images else "",
                       before_id=view.before.id if view.before else "", retryable=bool(view.error_code))


def apply_event(messages: list[ChatMessage], event: ProgressEvent) -> bool:
    """Copy a progress event onto its job's message; True when that job just ended."""
    for message in messages:
        if message.job_id == event.job_id:
            message.status, message.percent, message.stage = event.status, int(event.percent), event.stage
            message.preview_url = event.preview_url or message.preview_url
            message.queue_position = event.queue_position or 0
            message.error = event.error or ""
            message.image_ids = event.image_ids or message.image_ids
            return event.terminal
    return False


def as_uuid(value: object) -> str:
    """The canonical form of a UUID given as text, or "" for anything else."""
    if not isinstance(value, str) or len(value) > 64:
        return ""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return ""


MAX_ID = 2**31 - 1  # PostgreSQL integer ids


def as_id(value: object) -> int:
    """A positive database id given by the browser, or 0 for anything else (bools, floats, text, huge)."""
    if type(value) is str and value.isdigit() and len(value) <= 10:
        value = int(value)
    return value if type(value) is int and 0 < value <= MAX_ID else 0


def as_text(value: object, limit: int) -> str | None:
    """Text from the browser, or None when it is not text or longer than `limit` characters."""
    return value if isinstance(value, str) and len(value) <= limit else None
