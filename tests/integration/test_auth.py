"""Accounts against the real database: hashing, uniqueness, sessions, expiry, races."""

from __future__ import annotations

import hashlib
import threading
import uuid
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlmodel import select

from imagechat.core import auth
from imagechat.core.auth import (
    InvalidCredentials,
    InvalidUsername,
    UsernameTaken,
    WeakPassword,
    log_in,
    log_out,
    sign_up,
    user_for_token,
)
from imagechat.core.errors import InvalidRequest
from imagechat.db import session_scope
from imagechat.models import AuthSession, User, utcnow

GOOD = "correct-Horse-42"


@pytest.fixture
def name(database_url) -> str:
    return f"user_{uuid.uuid4().hex[:10]}"


def _session_rows(user_id: int) -> list[AuthSession]:
    with session_scope() as s:
        return list(s.exec(select(AuthSession).where(AuthSession.user_id == user_id)))


def test_sign_up_stores_lowercase_name_and_argon2id_hash(name):
    user = sign_up(name.upper(), GOOD)
    assert user.id is not None and user.username == name
    with session_scope() as s:
        stored = s.get(User, user.id)
    assert stored.password_hash.startswith("$argon2id$")
    assert GOOD not in stored.password_hash
    assert auth.verify_password(stored.password_hash, GOOD)
    assert not auth.verify_password(stored.password_hash, GOOD + "x")


def test_same_password_gets_a_different_salt(name):
    a = sign_up(name, GOOD)
    b = sign_up(name + "b", GOOD)
    assert a.password_hash != b.password_hash


@pytest.mark.parametrize("variant", [str.upper, str.title, lambda n: f"  {n}  "])
def test_duplicate_username_is_rejected_case_insensitively(name, variant):
    sign_up(name, GOOD)
    with pytest.raises(UsernameTaken) as err:
        sign_up(variant(name), GOOD + "!")
    assert err.value.user_message == "That username is taken."
    with session_scope() as s:
        assert len(s.exec(select(User).where(User.username == name)).all()) == 1


@pytest.mark.parametrize("username,message", [
    ("ab", "Username must be 3 to 32 characters."),
    ("x" * 33, "Username must be 3 to 32 characters."),
    ("bad name", "Username may contain only letters, digits, dots, underscores and hyphens."),
    ("émile", "Username may contain only letters, digits, dots, underscores and hyphens."),
    ("a/b/c", "Username may contain only letters, digits, dots, underscores and hyphens."),
])
def test_invalid_usernames(database_url, username, message):
    with pytest.raises(InvalidUsername) as err:
        sign_up(username, GOOD)
    assert err.value.user_message == message


@pytest.mark.parametrize("password,message", [
    ("", "Password must be at least 10 characters."),
    ("Short-1", "Password must be at least 10 characters."),
    ("x" * 257 + "1", "Password must be at most 256 characters."),
    ("abcdefghijklmnop", "Password must mix at least two kinds of characters"),
    ("12345678901234", "Password must mix at least two kinds of characters"),
    ("Password123", "That password is too common"),
    ("qwerty12345", "That password is too common"),
    ("<same-as-name>", "Password must not be the same as your username."),
])
def test_weak_passwords(name, password, message):
    if password == "<same-as-name>":
        password = name.upper() + "1"
        name = name + "1"
    with pytest.raises(WeakPassword) as err:
        sign_up(name, password)
    assert err.value.user_message.startswith(message)
    assert isinstance(err.value, InvalidRequest)
    with session_scope() as s:
        assert s.exec(select(User).where(User.username == name.lower())).first() is None


def test_wrong_password_and_unknown_user_look_the_same(name):
    sign_up(name, GOOD)
    with pytest.raises(InvalidCredentials) as wrong:
        log_in(name, GOOD + "x")
    with pytest.raises(InvalidCredentials) as unknown:
        log_in(name + "nobody", GOOD)
    with pytest.raises(InvalidCredentials) as malformed:
        log_in("no such user!", GOOD)
    messages = {wrong.value.user_message, unknown.value.user_message, malformed.value.user_message}
    assert messages == {"Wrong username or password."}
    assert wrong.value.code == unknown.value.code == "invalid_credentials"


def test_unknown_user_still_spends_a_hash(name, monkeypatch):
    calls = []
    real = auth.verify_password
    monkeypatch.setattr(auth, "verify_password", lambda h, p: calls.append(h) or real(h, p))
    with pytest.raises(InvalidCredentials):
        log_in(name, GOOD)
    assert len(calls) == 1 and calls[0].startswith("$argon2id$")


def test_token_round_trip_and_storage(name):
    user = sign_up(name, GOOD)
    logged_in, token = log_in(name.upper(), GOOD)
    assert logged_in.id == user.id
    assert len(token) >= 43
    assert user_for_token(token).id == user.id
    rows = _session_rows(user.id)
    assert [r.token_hash for r in rows] == [hashlib.sha256(token.encode()).hexdigest()]
    assert token not in rows[0].token_hash
    assert timedelta(days=auth.SESSION_DAYS - 1) < rows[0].expires_at - utcnow() <= timedelta(days=auth.SESSION_DAYS)


def test_each_login_gets_its_own_session(name):
    sign_up(name, GOOD)
    _, first = log_in(name, GOOD)
    _, second = log_in(name, GOOD)
    assert first != second
    log_out(first)
    assert user_for_token(first) is None
    assert user_for_token(second) is not None


def test_logout_invalidates(name):
    user = sign_up(name, GOOD)
    _, token = log_in(name, GOOD)
    log_out(token)
    assert user_for_token(token) is None
    assert _session_rows(user.id) == []
    log_out(token)  # twice is harmless
    log_out(None)


@pytest.mark.parametrize("token", [None, "", "not-a-token", "x" * 500])
def test_unknown_tokens(database_url, token):
    assert user_for_token(token) is None


def test_expired_session_is_rejected_and_deleted(name):
    user = sign_up(name, GOOD)
    _, token = log_in(name, GOOD)
    with session_scope() as s:
        row = s.get(AuthSession, hashlib.sha256(token.encode()).hexdigest())
        row.expires_at = utcnow() - timedelta(seconds=1)
        s.add(row)
    assert user_for_token(token) is None
    assert _session_rows(user.id) == []


def test_purge_expired_sessions_keeps_live_ones(name):
    user = sign_up(name, GOOD)
    _, live = log_in(name, GOOD)
    _, old = log_in(name, GOOD)
    with session_scope() as s:
        row = s.get(AuthSession, hashlib.sha256(old.encode()).hexdigest())
        row.expires_at = utcnow() - timedelta(days=1)
        s.add(row)
    assert auth.purge_expired_sessions() >= 1
    assert [r.token_hash for r in _session_rows(user.id)] == [hashlib.sha256(live.encode()).hexdigest()]


def test_outdated_hash_is_upgraded_on_login(name):
    user = sign_up(name, GOOD)
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(GOOD)
    with session_scope() as s:
        row = s.get(User, user.id)
        row.password_hash = weak
        s.add(row)
    log_in(name, GOOD)
    with session_scope() as s:
        upgraded = s.get(User, user.id).password_hash
    assert upgraded != weak and not auth._hasher.check_needs_rehash(upgraded)
    assert auth.verify_password(upgraded, GOOD)


def test_concurrent_sign_ups_of_one_name_exactly_one_wins(name):
    workers = 5
    barrier = threading.Barrier(workers)
    outcomes: list[object] = []
    lock = threading.Lock()

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            result: object = sign_up(name if i % 2 else name.upper(), f"{GOOD}-{i}")
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test inspects
            result = exc
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [o for o in outcomes if isinstance(o, User)]
    losers = [o for o in outcomes if not isinstance(o, User)]
    assert len(winners) == 1
    assert len(losers) == workers - 1 and all(isinstance(o, UsernameTaken) for o in losers)
    with session_scope() as s:
        assert len(s.exec(select(User).where(User.username == name)).all()) == 1


def test_unique_index_is_the_last_guard(name, monkeypatch):
    """The race the pre-check cannot see: a row appears between the check and the insert."""
    import sqlalchemy as sa
    from sqlmodel import select as real_select

    sign_up(name, GOOD)
    monkeypatch.setattr(auth, "select", lambda *cols: real_select(*cols).where(sa.false()))
    with pytest.raises(UsernameTaken):
        sign_up(name.upper(), GOOD)
