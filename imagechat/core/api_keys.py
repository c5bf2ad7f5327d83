"""API keys for the OpenAI-compatible API (/v1): created by their owner on /settings or with
`python -m imagechat keys create`, shown once, stored as a SHA-256 hash, revoked by their owner.

A key is `ick_` + 43 URL-safe characters (32 random bytes). It is a high-entropy bearer token, not a password, so a
fast hash is the right one (as for session tokens): nothing can be guessed from the hash, and a lookup is one
indexed query. The first characters (`prefix`) are kept to tell keys apart in lists; they are not enough to use one.

Every function takes the owner's id and acts only on that owner's keys; a key of a disabled user authenticates
nobody (`authenticate` raises KeyOwnerDisabled, so the API can say so to the key's holder).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import select

from imagechat.core.errors import ImagechatError, InvalidRequest, NotFound
from imagechat.core.text import clean_text, unmarked
from imagechat.db import session_scope
from imagechat.models import ApiKey, User, utcnow

KEY_PREFIX = "ick_"
SHOWN_CHARS = 12  # "ick_" and the first 8 random characters: enough to tell keys apart, far too few to use one
MAX_NAME_CHARS = 64
MAX_ACTIVE_KEYS = 20
# The shape of a key; anything else is refused before the database is asked.
KEY_PATTERN = re.compile(r"ick_[A-Za-z0-9_-]{43}")
# last_used_at is written at most this often per key (a busy client must not write on every request).
TOUCH_EVERY = timedelta(seconds=60)


class KeyOwnerDisabled(ImagechatError):
    code = "account_disabled"


@dataclass(frozen=True)
class KeyView:
    """What lists show: never the key nor its hash."""

    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class KeyOwner:
    """Who a presented key belongs to."""

    key_id: int
    user_id: int
    username: str


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _view(row: ApiKey) -> KeyView:
    return KeyView(row.id, row.name, row.prefix, row.created_at, row.last_used_at, row.revoked_at)


def clean_name(name: object) -> str:
    if name is None or (isinstance(name, str) and not name.strip()):
        return "API key"
    if not isinstance(name, str):
        raise InvalidRequest("The key's name must be text.")
    name = unmarked(clean_text(name)).strip()
    if len(name) > MAX_NAME_CHARS:
        raise InvalidRequest(f"The key's name is {len(name)} characters long; use at most {MAX_NAME_CHARS}.")
    return name or "API key"


def create(owner_id: int, name: object = None) -> tuple[KeyView, str]:
    """A new key for this user: its listing and the key itself, which is returned only here and never again."""
    label = clean_name(name)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with session_scope() as s:
        user = s.exec(select(User).where(User.id == owner_id).with_for_update()).first()  # one create at a time
        if user is None:
            raise NotFound("That account doesn't exist.")
        if user.disabled_at is not None:
            raise KeyOwnerDisabled("This account is disabled, so it can't have API keys.")
        active = s.exec(select(sa.func.count()).select_from(ApiKey)
                        .where(ApiKey.owner_id == owner_id, ApiKey.revoked_at.is_(None))).one()
        if active >= MAX_ACTIVE_KEYS:
            raise InvalidRequest(f"You already have {MAX_ACTIVE_KEYS} active API keys. Revoke one you no longer "
                                 "use, then create the new one.", code="too_many_keys")
        row = ApiKey(owner_id=owner_id, name=label, prefix=key[:SHOWN_CHARS], key_hash=key_hash(key))
        s.add(row)
        s.flush()
        return _view(row), key


def list_keys(owner_id: int) -> list[KeyView]:
    """The user's keys, active ones first, newest first."""
    with session_scope() as s:
        rows = s.exec(select(ApiKey).where(ApiKey.owner_id == owner_id)
                      .order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc(), ApiKey.id.desc())).all()
    return [_view(r) for r in rows]


def revoke(owner_id: int, key_id: object) -> KeyView:
    """Turn one of the user's keys off for good: the next request with it gets 401. Revoking twice is harmless."""
    if type(key_id) is not int or key_id <= 0:
        raise NotFound("That API key doesn't exist, or it isn't yours.")
    with session_scope() as s:
        row = s.exec(select(ApiKey).where(ApiKey.id == key_id, ApiKey.owner_id == owner_id)
                     .with_for_update()).first()
        if row is None:
            raise NotFound("That API key doesn't exist, or it isn't yours.")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            s.add(row)
        return _view(row)


def authenticate(key: object) -> KeyOwner | None:
    """The owner of a presented key, or None for anything that is not a live key (unknown, revoked, malformed).
    KeyOwnerDisabled when the key is live but its user is disabled. Notes when the key was last used."""
    if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
        return None
    hashed = key_hash(key)
    with session_scope() as s:
        row = s.exec(select(ApiKey, User).join(User, User.id == ApiKey.owner_id)
                     .where(ApiKey.key_hash == hashed, ApiKey.revoked_at.is_(None))).first()
        if row is None:
            return None
        api_key, user = row
        if user.disabled_at is not None:
            raise KeyOwnerDisabled("The account this API key belongs to is disabled. Ask the administrator of "
                                   "this server to enable it again.")
        now = utcnow()
        if api_key.last_used_at is None or now - api_key.last_used_at >= TOUCH_EVERY:
            s.execute(sa.update(ApiKey).where(ApiKey.id == api_key.id).values(last_used_at=now))
        return KeyOwner(api_key.id, user.id, user.username)
