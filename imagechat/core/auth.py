"""Accounts: argon2id password hashes, opaque session tokens, sign-up modes and invite codes.

- Only the sha256 of a session token (and of an invite code) is stored, so a database leak does not hand
  out live sessions. Usernames are stored lowercase: the unique index enforces case-insensitive uniqueness.
- Log-in and sign-up are throttled per client address and per username (core/throttle.py) before any
  hashing. Hashing runs on a small pool of its own with a bounded queue: a flood of log-ins can neither
  take the threads the database calls use nor pile up without end (the overflow is told "busy").
- A revoked session (log-out, a disabled user) is also marked in Redis until it would have expired, so
  every open tab of it notices within seconds without asking the database (state/session.py).
- Every failure has a stable `code` with one message (MESSAGES): the log-in page shows a message by code,
  never text taken from its URL.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
import math
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from redis.exceptions import RedisError
from sqlalchemy import delete, func, text, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from imagechat.core import redis_client, throttle
from imagechat.core.errors import ImagechatError, InvalidRequest
from imagechat.db import session_scope
from imagechat.models import AuthSession, Invite, User, utcnow
from imagechat.settings import get_settings

log = logging.getLogger(__name__)
T = TypeVar("T")

SESSION_COOKIE = "imagechat_session"  # HttpOnly; set by api/auth.py, read by the image routes and SessionState
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 256  # argon2 copes with more, but there is no reason to hash megabytes
USERNAME_RE = re.compile(r"[a-z0-9._-]{3,32}")
INVITE_DAYS = 7
PURGE_EVERY_S = 600.0
_SIGNUP_LOCK_KEY = 0x51C4A9  # serialises "is this the first account?" (any constant shared by every process)

# A short list of the most common passwords long enough to pass the length rule.
COMMON_PASSWORDS = frozenset({
    "1234567890", "0123456789", "password123", "password1!", "password12", "password1234", "passw0rd123",
    "qwertyuiop", "qwerty1234", "qwerty12345", "qwerty123456", "1q2w3e4r5t", "1qaz2wsx3edc", "zaq12wsxcde3",
    "iloveyou123", "iloveyou12", "letmein123", "welcome123", "welcome1234", "abc1234567", "abcd123456",
    "123456789a", "a123456789", "administrator", "admin12345", "changeme123", "sunshine123", "football123",
    "monkey12345", "dragon12345", "princess123", "trustno1234", "baseball123", "starwars123", "p@ssw0rd123",
})

# code -> what the user reads. "{wait}" is filled in by `message_for`.
MESSAGES = {
    "invalid_username_length": "Username must be 3 to 32 characters.",
    "invalid_username_chars": "Username may contain only letters, digits, dots, underscores and hyphens.",
    "username_taken": "That username is taken.",
    "password_too_short": f"Password must be at least {MIN_PASSWORD_CHARS} characters.",
    "password_too_long": f"Password must be at most {MAX_PASSWORD_CHARS} characters.",
    "password_too_simple": "Password must mix at least two kinds of characters: lowercase, uppercase, digits, "
                           "symbols.",
    "password_is_username": "Password must not be the same as your username.",
    "password_too_common": "That password is too common; please choose another.",
    "invalid_credentials": "Wrong username or password.",
    "account_disabled": "This account is disabled. Ask the administrator of this server to enable it again.",
    "signup_closed": "Sign-up is closed on this server. Ask its administrator for an account.",
    "invite_required": "Sign-up on this server needs an invite code. Ask its administrator for one.",
    "invalid_invite": "That invite code is not valid: it may be mistyped, already used or expired. "
                      "Ask the administrator for a new one.",
    "login_throttled": throttle.THROTTLED["login"],
    "signup_throttled": throttle.THROTTLED["signup"],
    "busy": "The server is busy checking other log-ins. Try again in a few seconds.",
    "service_unavailable": "The server can't reach its database or Redis right now. Try again in a minute.",
    "bad_origin": "The form was sent from another site, so it was refused. Open this app's own page and try "
                  "again.",
    "bad_request": "The form could not be read. Reload the page and try again.",
    "session_ended": "You were logged out: this session ended (log-out in another tab, expiry, or the "
                     "administrator). Log in again.",
    "error": "Something went wrong on the server. Try again; if it keeps happening, tell the administrator.",
}


def message_for(code: str, wait_s: int | None = None) -> str | None:
    """The message for an error code, or None for an unknown code."""
    template = MESSAGES.get(code)
    if template is None:
        return None
    return template.format(wait=throttle.wait_text(wait_s or 1)) if "{wait}" in template else template


class InvalidUsername(InvalidRequest):
    code = "invalid_username"


class UsernameTaken(InvalidRequest):
    code = "username_taken"


class WeakPassword(InvalidRequest):
    code = "weak_password"


class InvalidCredentials(InvalidRequest):
    code = "invalid_credentials"


class AccountDisabled(InvalidRequest):
    code = "account_disabled"


class SignupRefused(InvalidRequest):
    """code: signup_closed, invite_required or invalid_invite."""

    code = "signup_closed"


class ServerBusy(ImagechatError):
    code = "busy"
    retryable = True


class UnknownUser(InvalidRequest):
    """Command line only: the named account doesn't exist."""

    code = "unknown_user"


def _fail(cls: type[ImagechatError], code: str) -> ImagechatError:
    return cls(MESSAGES[code], code=code)


# ---------------------------------------------------------------- passwords, on their own bounded pool

_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 defaults (64 MiB, 3 passes)


class _HashPool:
    """A thread pool for argon2 that refuses work beyond `threads + queue` instead of queueing it."""

    def __init__(self, threads: int, queue: int):
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="argon2")
        self._slots = threading.BoundedSemaphore(threads + queue)

    def submit(self, fn: Callable[..., T], *args) -> concurrent.futures.Future[T]:
        if not self._slots.acquire(blocking=False):
            raise _fail(ServerBusy, "busy")
        try:
            future = self.executor.submit(fn, *args)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _done: self._slots.release())
        return future


@lru_cache
def _pool(threads: int, queue: int) -> _HashPool:
    return _HashPool(threads, queue)


def hash_pool() -> _HashPool:
    settings = get_settings()
    return _pool(settings.password_hash_threads, settings.password_hash_queue)


def _on_pool(fn: Callable[..., T], *args) -> T:
    return hash_pool().submit(fn, *args).result()


async def _on_pool_async(fn: Callable[..., T], *args) -> T:
    return await asyncio.wrap_future(hash_pool().submit(fn, *args))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@lru_cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def normalize_username(username: str) -> str:
    name = (username or "").strip().lower()
    if not 3 <= len(name) <= 32:
        raise InvalidUsername(MESSAGES["invalid_username_length"], code="invalid_username_length")
    if not USERNAME_RE.fullmatch(name):
        raise InvalidUsername(MESSAGES["invalid_username_chars"], code="invalid_username_chars")
    return name


def check_password(password: str, username: str = "") -> None:
    """Raise WeakPassword with the first rule the password breaks."""
    password = password or ""
    classes = {"lower" if c.islower() else "upper" if c.isupper() else "digit" if c.isdigit() else "other"
               for c in password}
    if len(password) < MIN_PASSWORD_CHARS:
        code = "password_too_short"
    elif len(password) > MAX_PASSWORD_CHARS:
        code = "password_too_long"
    elif len(classes) < 2:
        code = "password_too_simple"
    elif username and password.strip().lower() == username.strip().lower():
        code = "password_is_username"
    elif password.lower() in COMMON_PASSWORDS:
        code = "password_too_common"
    else:
        return
    raise _fail(WeakPassword, code)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()



# ---------------------------------------------------------------- sign-up

def _invite_hash(code: str) -> str:
    return hashlib.sha256(re.sub(r"[\s-]", "", code or "").lower().encode()).hexdigest()


def _begin_sign_up(username: str, password: str, invite_code: str | None, address: str | None) -> str:
    """Everything before hashing: mode, throttle, rules, invite and name checks. Returns the username."""
    mode = get_settings().allow_signup
    if mode == "closed":
        raise _fail(SignupRefused, "signup_closed")
    throttle.check("signup", address=address, username=username)
    name = normalize_username(username)
    check_password(password, name)
    with session_scope() as session:
        if mode == "invite":
            if not (invite_code or "").strip():
                raise _fail(SignupRefused, "invite_required")
            if session.exec(select(Invite.id).where(*_usable_invite(invite_code))).first() is None:
                raise _fail(SignupRefused, "invalid_invite")
        if session.exec(select(User.id).where(User.username == name)).first() is not None:
            raise _fail(UsernameTaken, "username_taken")
    return name


def _usable_invite(code: str | None) -> tuple:
    return Invite.code_hash == _invite_hash(code or ""), Invite.used_at.is_(None), Invite.expires_at > utcnow()


def _finish_sign_up(name: str, password_hash: str, invite_code: str | None) -> User:
    mode = get_settings().allow_signup
    try:
        with session_scope() as session:
            first = False
            if mode == "open":
                session.execute(text("SELECT pg_advisory_xact_lock(:k)").bindparams(k=_SIGNUP_LOCK_KEY))
                first = session.exec(select(User.id).where(User.is_admin)).first() is None
            if session.exec(select(User.id).where(User.username == name)).first() is not None:
                raise _fail(UsernameTaken, "username_taken")
            user = User(username=name, password_hash=password_hash, is_admin=first)
            session.add(user)
            session.flush()
            if mode == "invite":
                # Single use even against a concurrent sign-up with the same code: one UPDATE wins.
                used = session.execute(update(Invite).where(*_usable_invite(invite_code))
                                       .values(used_at=utcnow(), used_by=user.id).returning(Invite.id)).first()
                if used is None:
                    raise _fail(SignupRefused, "invalid_invite")  # rolls the new user back
    except IntegrityError:
        # A concurrent sign-up won the race; the unique index is the real guard.
        raise _fail(UsernameTaken, "username_taken") from None
    if first:
        log.info("first account %s is the administrator", name)
    return user


def sign_up(username: str, password: str, *, invite_code: str | None = None, address: str | None = None) -> User:
    """Create an account as ALLOW_SIGNUP allows (in "open" mode the first account is the administrator)."""
    name = _begin_sign_up(username, password, invite_code, address)
    return _finish_sign_up(name, _on_pool(hash_password, password), invite_code)


async def sign_up_async(username: str, password: str, *, invite_code: str | None = None,
                        address: str | None = None) -> User:
    """sign_up for an event loop: database work in the default threads, hashing on the password pool."""
    name = await asyncio.to_thread(_begin_sign_up, username, password, invite_code, address)
    password_hash = await _on_pool_async(hash_password, password)
    return await asyncio.to_thread(_finish_sign_up, name, password_hash, invite_code)


# ---------------------------------------------------------------- log-in

@dataclass(frozen=True)
class _Candidate:
    user_id: int | None
    password_hash: str
    disabled: bool


def _begin_log_in(username: str, address: str | None) -> _Candidate:
    throttle.check("login", address=address, username=username)
    try:
        name = normalize_username(username)
    except InvalidUsername:
        return _Candidate(None, "", False)
    with session_scope() as session:
        user = session.exec(select(User).where(User.username == name)).first()
    if user is None:
        return _Candidate(None, "", False)
    return _Candidate(user.id, user.password_hash, user.disabled_at is not None)


def _check(candidate: _Candidate, password: str) -> str | None:
    """On the password pool. Returns a new hash when the stored one uses outdated parameters, else None."""
    if candidate.user_id is None:
        verify_password(_dummy_hash(), password)  # spend the same time as a real check
        raise _fail(InvalidCredentials, "invalid_credentials")
    if not verify_password(candidate.password_hash, password):
        raise _fail(InvalidCredentials, "invalid_credentials")
    if candidate.disabled:  # said only to someone who knows the password
        raise _fail(AccountDisabled, "account_disabled")
    if _hasher.check_needs_rehash(candidate.password_hash):
        return hash_password(password)  # parameters were raised since this hash was made
    return None


def _finish_log_in(candidate: _Candidate, new_hash: str | None) -> tuple[User, str]:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with session_scope() as session:
        user = session.get(User, candidate.user_id)
        if user is None or user.disabled_at is not None:  # deleted or disabled while the password was checked
            raise _fail(InvalidCredentials, "invalid_credentials")
        if new_hash:
            user.password_hash = new_hash
            session.add(user)
        # This user's expired sessions go now; everyone's go in the workers' housekeeping.
        session.execute(delete(AuthSession).where(AuthSession.user_id == user.id, AuthSession.expires_at <= now))
        session.add(AuthSession(token_hash=token_hash(token), user_id=user.id,
                                expires_at=now + timedelta(days=get_settings().session_days)))
    return user, token


def start_session(user_id: int) -> tuple[User, str]:
    """A new session for a user who has just proven who they are (a fresh sign-up)."""
    return _finish_log_in(_Candidate(user_id, "", False), None)


def log_in(username: str, password: str, *, address: str | None = None) -> tuple[User, str]:
    """Return the user and a new session token. One message for every failure, and a hash either way."""
    candidate = _begin_log_in(username, address)
    new_hash = _on_pool(_check, candidate, (password or "")[:MAX_PASSWORD_CHARS + 1])
    return _finish_log_in(candidate, new_hash)


async def log_in_async(username: str, password: str, *, address: str | None = None) -> tuple[User, str]:
    """log_in for an event loop: database work in the default threads, hashing on the password pool."""
    candidate = await asyncio.to_thread(_begin_log_in, username, address)
    new_hash = await _on_pool_async(_check, candidate, (password or "")[:MAX_PASSWORD_CHARS + 1])
    return await asyncio.to_thread(_finish_log_in, candidate, new_hash)


# ---------------------------------------------------------------- sessions

@dataclass(frozen=True)
class SessionInfo:
    user_id: int
    username: str
    expires_at: float  # epoch seconds
    is_admin: bool = False  # for showing the Admin menu item; core.admin checks again on every action


def session_for_hash(hashed: str) -> SessionInfo | None:
    """The live session with this token hash, or None (unknown, expired, or its user is disabled)."""
    if not hashed:
        return None
    with session_scope() as session:
        row = session.exec(select(AuthSession, User).join(User, User.id == AuthSession.user_id)
                           .where(AuthSession.token_hash == hashed)).first()
        if row is None:
            return None
        auth_session, user = row
        if auth_session.expires_at <= utcnow():
            session.delete(auth_session)
            return None
        if user.disabled_at is not None:
            return None
        return SessionInfo(user.id, user.username, auth_session.expires_at.timestamp(), user.is_admin)


def session_for_token(token: str | None) -> SessionInfo | None:
    return session_for_hash(token_hash(token)) if token else None


def live_session_of(owner_column, hashed: str) -> tuple:
    """Conditions, for a query of something owned, that `hashed` names a live session of its owner (unexpired,
    user not disabled): what session_for_hash checks, inside the caller's one query."""
    return (AuthSession.token_hash == hashed, AuthSession.user_id == owner_column, AuthSession.expires_at > utcnow(),
            User.id == owner_column, User.disabled_at.is_(None))


def user_for_token(token: str | None) -> User | None:
    """The session's user, or None for an unknown or expired token (an expired one is deleted)."""
    info = session_for_token(token)
    if info is None:
        return None
    with session_scope() as session:
        return session.get(User, info.user_id)


def _revoked_key(hashed: str) -> str:
    return redis_client.key("auth", "revoked", hashed)


def _mark_revoked(rows: list[tuple[str, datetime]]) -> None:
    """Tell open tabs at once (state/session.py). The database stays the authority: when Redis is away,
    tabs still notice on their next database check."""
    if not rows:
        return
    now = utcnow()
    try:
        pipe = redis_client.client().pipeline(transaction=False)
        for hashed, expires_at in rows:
            pipe.set(_revoked_key(hashed), b"1", ex=max(1, math.ceil((expires_at - now).total_seconds())))
        pipe.execute()
    except RedisError:
        log.warning("could not mark %d revoked session(s) in Redis; tabs notice on their next database check",
                    len(rows))


def log_out(token: str | None) -> None:
    if not token:
        return
    with session_scope() as session:
        rows = session.execute(delete(AuthSession).where(AuthSession.token_hash == token_hash(token))
                               .returning(AuthSession.token_hash, AuthSession.expires_at)).all()
    _mark_revoked([tuple(r) for r in rows])


def revoke_user_sessions(user_id: int) -> int:
    """End every session of a user (each open tab returns to the log-in page); returns how many."""
    with session_scope() as session:
        rows = session.execute(delete(AuthSession).where(AuthSession.user_id == user_id)
                               .returning(AuthSession.token_hash, AuthSession.expires_at)).all()
    _mark_revoked([tuple(r) for r in rows])
    return len(rows)


async def is_revoked(hashed: str) -> bool:
    """Whether this session was revoked (one Redis EXISTS). Raises RedisError when Redis is away."""
    return bool(await redis_client.loop_client().exists(_revoked_key(hashed)))


def purge_expired_sessions() -> int:
    """Delete every expired session; returns how many."""
    with session_scope() as session:
        result = session.execute(delete(AuthSession).where(AuthSession.expires_at <= utcnow()))
        return result.rowcount or 0


_next_purge = 0.0


def purge_expired_sessions_if_due() -> int | None:
    """purge_expired_sessions at most every PURGE_EVERY_S in this process (the workers' housekeeping
    calls it on every tick); None when it was not due."""
    global _next_purge
    now = time.monotonic()
    if now < _next_purge:
        return None
    _next_purge = now + PURGE_EVERY_S
    purged = purge_expired_sessions()
    if purged:
        log.info("purged %d expired session(s)", purged)
    return purged


# ---------------------------------------------------------------- administration (the command line)

@dataclass(frozen=True)
class UserRow:
    username: str
    is_admin: bool
    disabled: bool
    has_password: bool
    sessions: int
    created_at: datetime


def create_user(username: str, password: str, *, admin: bool = False) -> User:
    """An account made by the administrator: no sign-up mode, invite or throttle applies."""
    name = normalize_username(username)
    check_password(password, name)
    password_hash = _on_pool(hash_password, password)
    try:
        with session_scope() as session:
            if session.exec(select(User.id).where(User.username == name)).first() is not None:
                raise _fail(UsernameTaken, "username_taken")
            user = User(username=name, password_hash=password_hash, is_admin=admin)
            session.add(user)
            session.flush()
    except IntegrityError:
        raise _fail(UsernameTaken, "username_taken") from None
    return user


def set_disabled(username: str, disabled: bool) -> int:
    """Disable (ending every session at once) or enable an account; returns the sessions ended."""
    name = (username or "").strip().lower()
    with session_scope() as session:
        user = session.exec(select(User).where(User.username == name)).first()
        if user is None:
            raise UnknownUser(f"There is no user named {name!r}.")
        user.disabled_at = (user.disabled_at or utcnow()) if disabled else None
        session.add(user)
        user_id = user.id
    return revoke_user_sessions(user_id) if disabled else 0


def list_users() -> list[UserRow]:
    live = (select(AuthSession.user_id, func.count().label("n")).where(AuthSession.expires_at > utcnow())
            .group_by(AuthSession.user_id).subquery())
    with session_scope() as session:
        rows = session.exec(select(User, func.coalesce(live.c.n, 0)).outerjoin(live, live.c.user_id == User.id)
                            .order_by(User.username)).all()
    return [UserRow(u.username, u.is_admin, u.disabled_at is not None, u.password_hash.startswith("$argon2"), n,
                    u.created_at) for u, n in rows]


def create_invite(days: float = INVITE_DAYS, *, created_by: int | None = None) -> tuple[str, datetime]:
    """A new single-use invite code (shown once; only its hash is kept) and when it expires."""
    if not 0 < days <= 365:
        raise InvalidRequest("An invite may be valid for more than 0 and at most 365 days.")
    raw = secrets.token_hex(8)
    code = "-".join(raw[i:i + 4] for i in range(0, 16, 4))
    expires_at = utcnow() + timedelta(days=days)
    with session_scope() as session:
        session.add(Invite(code_hash=_invite_hash(code), created_by=created_by, expires_at=expires_at))
    return code, expires_at
