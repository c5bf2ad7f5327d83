"""Prompt suggestions while typing, and "Surprise me".

`suggest` matches what is typed against the user's own past prompts (their images, newest first; never
anyone else's) and a curated list of starters. `surprise` picks a starter at random. Every starter is a
description the parser reads as a new picture (tests/unit/test_suggestions.py checks), most of them scenes the
offline painter draws well.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import select

from imagechat.db import session_scope
from imagechat.models import Image

STARTERS: tuple[str, ...] = (
    "A lighthouse on a rocky coast at dusk, watercolor",
    "A cozy cabin in a snowy forest at night",
    "A red sailboat on a calm lake at sunrise",
    "A city skyline at night with neon lights",
    "A misty mountain range over a quiet river at dawn",
    "A field of flowers under a stormy sky, oil painting",
    "A lone tree on a hill at sunset, pixel art",
    "The desert dunes under a starry night sky",
    "A small house by the sea in the rain, sketch",
    "A flock of birds over a golden meadow at sunset",
    "A harbor with fishing boats at dawn, oil painting",
    "A snowy village in the mountains at dusk, cartoon",
    "An abstract sunset over the ocean",
    "A forest lake with reflections in the fog",
    "A farmhouse in the countryside on a sunny afternoon, watercolor",
    "A full moon over a calm sea, neon",
    "A cyberpunk street market in the rain",
    "A castle on a cliff above a stormy sea",
    "An old windmill among tulip fields in spring, watercolor",
    "A hot air balloon over green hills in the morning",
    "A lantern-lit bridge over a river at twilight",
    "A mountain cabin among pine trees at sunrise",
    "A lighthouse in a thunderstorm, photorealistic",
    "A pastel town by a lake at sunset, cartoon",
)
MIN_CHARS = 2  # fewer typed characters suggest nothing
RECENT_SCANNED = 1000  # how many of the user's newest images are searched
MAX_SHOWN_CHARS = 500  # longer past prompts are not offered


@dataclass(frozen=True)
class Suggestion:
    text: str
    kind: str  # "recent" (the user's own) or "starter"


def surprise(rng: random.Random | None = None, *, avoid: str = "") -> str:
    """A random curated starter, never the one given in `avoid` (pressing twice gives a new one)."""
    choices = [s for s in STARTERS if s != avoid] or list(STARTERS)
    return (rng or random).choice(choices)


def _words(text: str) -> list[str]:
    return re.findall(r"[\w'-]+", (text or "").lower())[:8]


def _escaped(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _recent(owner_id: int, words: list[str], limit: int) -> list[str]:
    with session_scope() as s:
        newest = (select(Image.prompt, Image.created_at)
                  .where(Image.owner_id == owner_id, Image.deleted_at.is_(None))
                  .order_by(Image.created_at.desc()).limit(RECENT_SCANNED).subquery())
        query = (select(newest.c.prompt, func.max(newest.c.created_at).label("at"))
                 .where(func.char_length(newest.c.prompt) <= MAX_SHOWN_CHARS)
                 .group_by(newest.c.prompt).order_by(func.max(newest.c.created_at).desc()).limit(limit))
        for word in words:
            query = query.where(newest.c.prompt.ilike(f"%{_escaped(word)}%", escape="\\"))
        return [row[0] for row in s.exec(query).all()]


def suggest(owner_id: int, text: str, limit: int = 5) -> list[Suggestion]:
    """Up to `limit` prompts containing every word typed so far (the last one may be half typed): the user's own
    recent ones first, then starters. Nothing for fewer than MIN_CHARS characters, nor the text itself."""
    typed = " ".join((text or "").split()).lower()
    words = _words(typed)
    if len(typed) < MIN_CHARS or not words or limit < 1:
        return []
    seen = {typed}
    out: list[Suggestion] = []
    for prompt in _recent(owner_id, words, limit * 2):
        if prompt.lower() not in seen:
            seen.add(prompt.lower())
            out.append(Suggestion(prompt, "recent"))
    for starter in STARTERS:
        low = starter.lower()
        if low not in seen and all(w in low for w in words):
            seen.add(low)
            out.append(Suggestion(starter, "starter"))
    return out[:limit]
