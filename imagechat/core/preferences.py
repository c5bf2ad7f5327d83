"""What a user last chose in the composer's options, kept on their account so a new tab, another browser or the
next day starts from it (LibreChat users ask for exactly this of its presets).

Stored as JSON on `users.composer_options` and checked again when read (core.options.check_options): the server's
engines, models and limits may have changed since, so an engine that went away falls back to the configured one,
a value of the wrong type is left out (its default applies), and options that no longer hold otherwise are
forgotten: the composer starts from the defaults, as for a new account."""

from __future__ import annotations

from dataclasses import dataclass

from imagechat.core.errors import InvalidRequest
from imagechat.core.options import ASPECTS, ComposerOptions, check_options
from imagechat.db import session_scope
from imagechat.models import User

CUSTOM = "custom"
_TEXT = ("style", "quality", "engine", "model")
_WHOLE = ("width", "height", "n")


@dataclass(frozen=True)
class Composer:
    options: ComposerOptions
    aspect: str  # a key of options.ASPECTS, or "custom"


def _aspect(aspect: object, options: ComposerOptions) -> str:
    if aspect in ASPECTS and ASPECTS[aspect] == options.size:
        return aspect
    return next((name for name, size in ASPECTS.items() if size == options.size), CUSTOM)


def as_json(composer: Composer) -> dict:
    o = composer.options
    return {"style": o.style, "aspect": composer.aspect, "width": o.width, "height": o.height,
            "quality": o.quality, "n": o.n, "engine": o.engine, "model": o.model}


def check(stored: object) -> Composer | None:
    """Stored (or sent) options as they hold on this server now; None when nothing usable is left."""
    if not isinstance(stored, dict):
        return None
    fields = {k: stored.get(k) for k in _TEXT if isinstance(stored.get(k), str)}
    fields |= {k: stored.get(k) for k in _WHOLE if type(stored.get(k)) is int}
    for attempt in (fields, {k: v for k, v in fields.items() if k not in ("engine", "model")}):
        try:
            options = check_options(**attempt)
        except InvalidRequest:
            continue
        return Composer(options, _aspect(stored.get("aspect"), options))
    return None


def save_composer(user_id: int, composer: Composer) -> None:
    """Remember the user's options, checked again here (InvalidRequest: they do not hold on this server)."""
    o = composer.options
    options = check_options(style=o.style, width=o.width, height=o.height, quality=o.quality, n=o.n,
                            engine=o.engine, model=o.model)
    with session_scope() as s:
        user = s.get(User, user_id)
        if user is None:
            return
        user.composer_options = as_json(Composer(options, _aspect(composer.aspect, options)))
        s.add(user)


def load_composer(user_id: int) -> Composer | None:
    """The user's remembered options as they hold now, or None (never saved, or nothing usable left)."""
    with session_scope() as s:
        user = s.get(User, user_id)
        stored = user.composer_options if user is not None else None
    return check(stored)
