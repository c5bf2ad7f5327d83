"""What the parser and the tool path decide: an image request, or a text reply to show instead."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from imagechat.core.intents.sizes import SQUARE
from imagechat.core.request import ImageRequest


@dataclass(frozen=True)
class ImageIntent:
    action: Literal["generate", "edit", "variations"]
    # Always a complete description, so an engine that cannot edit can simply regenerate from it.
    request: ImageRequest
    source: Literal["last"] | None = None  # "last": an engine that can edit starts from the last image
    note: str | None = None  # shown to the user, e.g. when n was capped
    preface: str = ""  # what the chat model said before its tool call; the parser leaves it empty
    # Which of "style", "size", "quality", "n" the words set (or the last image fixes, for a change of it):
    # the composer's options fill in only the others (core/options.apply_options). Not part of equality.
    said: frozenset[str] = field(default=frozenset(), compare=False)
    # "another one", "again": a new take is asked for, so never answered from the library (core/cache.py).
    fresh: bool = False


@dataclass(frozen=True)
class TextReply:
    message: str


@dataclass
class ChatContext:
    last_prompt: str | None = None
    last_style: str | None = None
    last_width: int = SQUARE[0]
    last_height: int = SQUARE[1]
    has_last_image: bool = False


Decision = ImageIntent | TextReply
