"""Plain dataclasses the pages draw and the argument checks every state handler uses. No Reflex here."""

from __future__ import annotations

import dataclasses
import uuid


@dataclasses.dataclass
class ConversationItem:
    id: int
    title: str


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
