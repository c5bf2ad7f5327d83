"""Accounts: argon2id password hashes and opaque session tokens.

Only the sha256 of a session token is stored, so a database leak does not hand out live sessions.
Usernames are stored lowercase: the unique index then enforces case-insensitive uniqueness.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from imagechat.core.errors import InvalidRequest
from imagechat.db import session_scope
from imagechat.models import AuthSession, User, utcnow

SESSION_COOKIE = "imagechat_session"  # set in the browser, read by the app and the image routes
SESSION_DAYS = 30  # no settings field yet; candidate for Settings.session_days
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 256  # argon2 copes with more, but there is no reason to hash megabytes
USERNAME_RE = re.compile(r"[a-z0-9._-]{3,32}")

# A short list of the most common passwords long enough to pass the length rule.
COMMON_PASSWORDS = frozenset({
    "1234567890", "0123456789", "password123", "password1!", "password12", "password1234", "passw0rd123",
    "qwertyuiop", "qwerty1234", "qwerty12345", "qwerty123456", "1q2w3e4r5t", "1qaz2wsx3edc", "zaq12wsxcde3",
    "iloveyou123", "iloveyou12", "letmein123", "welcome123", "welcome1234", "abc1234567", "abcd123456",
    "123456789a", "a123456789", "administrator", "admin12345", "changeme123", "sunshine123", "football123",
    "monkey12345", "dragon12345", "princess123", "trustno1234", "baseball123", "starwars123", "p@ssw0rd123",
})

_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 defaults


class InvalidUsername(InvalidRequest):
    code = "invalid_username"


class UsernameTaken(InvalidRequest):
    code = "username_taken"


class WeakPassword(InvalidRequest):
    code = "weak_password"


class InvalidCredentials(InvalidRequest):
    code = "invalid_credentials"


_WRONG = "Wrong username or password."


def normalize_username(username: str) -> str:
    name = (username or "").strip().lower()
    if not 3 <= len(name) <= 32:
        raise InvalidUsername("Username must be 3 to 32 characters.")
    if not USERNAME_RE.fullmatch(name):
        raise InvalidUsername("Username may contain only letters, digits, dots, underscores and hyphens.")
    return name


def check_password(password: str, username: str = "") -> None:
    """Raise WeakPassword with the first rule the password breaks."""
    password = password or ""
    if len(password) < MIN_PASSWORD_CHARS:
        raise WeakPassword(f"Password must be at least {MIN_PASSWORD_CHARS} characters.")
    if len(password) > MAX_PASSWORD_CHARS:
        raise WeakPassword(f"Password must be at most {MAX_PASSWORD_CHARS} characters.")
    classes = {"lower" if c.islower() else "upper" if c.isupper() else "digit" if c.isdigit() else "other"
               for c in password}
    if len(classes) < 2:
        raise WeakPassword("Password must mix at least two kinds of characters: lowercase, uppercase, digits, "
                           "symbols.")
    if username and password.strip().lower() == username.strip().lower():
        raise WeakPassword("Password must not be the same as your username.")
    if password.lower() in COMMON_PASSWORDS:
        raise WeakPassword("That password is too common; please choose another.")


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


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign_up(username: str, password: str) -> User:
    name = normalize_username(username)
    check_password(password, name)
    password_hash = hash_password(password)  # outside the transaction: it is the slow part
    try:
        with session_scope() as session:
            if session.exec(select(User.id).where(User.username == name)).first() is not None:
                raise UsernameTaken("That username is taken.")
            user = User(username=name, password_hash=password_hash)
            session.add(user)
            session.flush()
    except IntegrityError:
        # A concurrent sign-up won the race; the unique index is the real guard.
        raise UsernameTaken("That username is taken.") from None
    return user


def log_in(username: str, password: str) -> tuple[User, str]:
    """Return the user and a new session token. One message for every failure, and a hash either way."""
    try:
        name = normalize_username(username)
    except InvalidUsername:
        name = None
    password = (password or "")[:MAX_PASSWORD_CHARS + 1]
    with session_scope() as session:
        user = session.exec(select(User).where(User.username == name)).first() if name else None
        if user is None:
            verify_password(_dummy_hash(), password)  # spend the same time as a real check
            raise InvalidCredentials(_WRONG)
        if not verify_password(user.password_hash, password):
            raise InvalidCredentials(_WRONG)
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)  # parameters were raised since this hash was made
            session.add(user)
        token = secrets.token_urlsafe(32)
        session.add(AuthSession(token_hash=_token_hash(token), user_id=user.id,
                                expires_at=utcnow() + timedelta(days=SESSION_DAYS)))
    return user, token


def user_for_token(token: str | None) -> User | None:
    """The session's user, or None for an unknown or expired token (an expired one is deleted)."""
    if not token:
        return None
    with session_scope() as session:
        row = session.get(AuthSession, _token_hash(token))
        if row is None:
            return None
        if row.expires_at <= utcnow():
            session.delete(row)
            return None
        return session.get(User, row.user_id)


def log_out(token: str | None) -> None:
    if not token:
        return
    with session_scope() as session:
        session.execute(delete(AuthSession).where(AuthSession.token_hash == _token_hash(token)))


def purge_expired_sessions() -> int:
    """Delete every expired session; returns how many. For a periodic job."""
    with session_scope() as session:
        result = session.execute(delete(AuthSession).where(AuthSession.expires_at <= utcnow()))
        return result.rowcount or 0
