"""Accounts against the real database and Redis: hashing, uniqueness, sessions, expiry, races, throttling,
the password pool, sign-up modes, invites, disabled users and revocation."""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
import uuid
from datetime import timedelta

import pytest
import redis
from argon2 import PasswordHasher
from sqlalchemy import update as sa_update
from sqlmodel import select

from imagechat.core import auth, throttle
from imagechat.core.auth import (
    AccountDisabled,
    InvalidCredentials,
    InvalidUsername,
    ServerBusy,
    SignupRefused,
    UsernameTaken,
    WeakPassword,
    log_in,
    log_out,
    sign_up,
    user_for_token,
)
from imagechat.core.errors import InvalidRequest
from imagechat.core.throttle import Throttled
from imagechat.db import session_scope
from imagechat.models import AuthSession, Invite, User, utcnow
from imagechat.settings import get_settings

GOOD = "correct-Horse-42"


@pytest.fixture
def name(database_url, redis_url) -> str:
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
def test_invalid_usernames(database_url, redis_url, username, message):
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
    days = get_settings().session_days
    assert timedelta(days=days - 1) < rows[0].expires_at - utcnow() <= timedelta(days=days)


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


# ---------------------------------------------------------------- hardening: throttling, pool, modes, invites

def _count(monkeypatch, fn_name: str) -> list[str]:
    """Count calls of auth.<fn_name> (hash_password / verify_password) and the thread each ran on."""
    calls: list[str] = []
    real = getattr(auth, fn_name)
    monkeypatch.setattr(auth, fn_name, lambda *a: calls.append(threading.current_thread().name) or real(*a))
    return calls


def test_login_is_throttled_per_address_before_any_hashing(name, private_namespace, monkeypatch):
    private_namespace(login_limit_per_address="3/minute")
    sign_up(name, GOOD)
    verified = _count(monkeypatch, "verify_password")
    for _ in range(3):
        with pytest.raises(InvalidCredentials):
            log_in(name, GOOD + "x", address="203.0.113.7")
    with pytest.raises(Throttled) as err:
        log_in(name, GOOD, address="203.0.113.7")  # even the right password: no argon2 at all
    assert err.value.code == "login_throttled" and 1 <= err.value.retry_after_s <= 60
    assert re.fullmatch(r"Too many log-in attempts\. Wait \d+ s and try again\.", err.value.user_message)
    assert len(verified) == 3
    user, _ = log_in(name, GOOD, address="203.0.113.8")  # another address is not affected
    assert user.username == name and len(verified) == 4


def test_login_is_throttled_per_username_from_any_address(name, private_namespace, monkeypatch):
    private_namespace(auth_limit_per_username="2/minute")
    sign_up(name, GOOD)
    verified = _count(monkeypatch, "verify_password")
    log_in(name, GOOD, address="198.51.100.1")
    with pytest.raises(InvalidCredentials):
        log_in(name.upper(), GOOD + "x", address="198.51.100.2")  # the same username, spelled otherwise
    with pytest.raises(Throttled) as err:
        log_in(f"  {name} ", GOOD, address="198.51.100.3")
    assert err.value.code == "login_throttled" and len(verified) == 2
    other = name + "z"
    sign_up(other, GOOD)
    log_in(other, GOOD, address="198.51.100.3")  # another username is not affected


def test_signup_is_throttled_per_address_before_hashing(name, private_namespace, monkeypatch):
    private_namespace(signup_limit_per_address="2/minute")
    hashed = _count(monkeypatch, "hash_password")
    sign_up(name + "1", GOOD, address="192.0.2.5")
    with pytest.raises(WeakPassword):
        sign_up(name + "2", "short", address="192.0.2.5")  # refused attempts count too
    with pytest.raises(Throttled) as err:
        sign_up(name + "3", GOOD, address="192.0.2.5")
    assert err.value.code == "signup_throttled" and err.value.user_message.startswith("Too many sign-up attempts.")
    assert len(hashed) == 1
    with session_scope() as s:
        assert s.exec(select(User).where(User.username == name + "3")).first() is None


def test_ipv6_clients_are_counted_per_64_network():
    net = "2001:db8:1:2::/64"
    assert throttle.address_key("2001:db8:1:2::1") == throttle.address_key("2001:db8:1:2:ffff::9") == net
    assert throttle.address_key("2001:db8:1:3::1") != throttle.address_key("2001:db8:1:2::1")
    assert throttle.address_key("::ffff:192.0.2.1") == "192.0.2.1" == throttle.address_key("192.0.2.1")
    assert throttle.message("login", 300) == "Too many log-in attempts. Wait 5 min and try again."


def test_hashing_runs_on_its_own_pool(name, monkeypatch):
    hashed, verified = _count(monkeypatch, "hash_password"), _count(monkeypatch, "verify_password")
    sign_up(name, GOOD)
    log_in(name, GOOD)
    assert hashed and verified and all(t.startswith("argon2") for t in hashed + verified)


async def test_async_log_in_hashes_on_the_pool_not_the_default_threads(name, monkeypatch):
    verified = _count(monkeypatch, "verify_password")
    await auth.sign_up_async(name, GOOD, address="192.0.2.77")
    user, token = await auth.log_in_async(name, GOOD, address="192.0.2.77")
    assert user.username == name and user_for_token(token).id == user.id
    assert verified and all(t.startswith("argon2") for t in verified)


def test_a_full_hashing_queue_says_busy(name, private_namespace):
    private_namespace(password_hash_threads=1, password_hash_queue=0)
    sign_up(name, GOOD)
    release = threading.Event()
    blocker = auth.hash_pool().submit(release.wait, 30)
    try:
        with pytest.raises(ServerBusy) as err:
            log_in(name, GOOD)
        assert err.value.code == "busy" and "busy" in err.value.user_message
    finally:
        release.set()
        blocker.result(timeout=30)
    assert log_in(name, GOOD)[0].username == name  # the slot is free again


def test_signup_closed(name, private_namespace, monkeypatch):
    private_namespace(allow_signup="closed")
    hashed = _count(monkeypatch, "hash_password")
    with pytest.raises(SignupRefused) as err:
        sign_up(name, GOOD)
    assert err.value.code == "signup_closed" and "closed" in err.value.user_message and not hashed


def test_invite_mode_needs_a_valid_unused_unexpired_code(name, private_namespace):
    private_namespace(allow_signup="invite")
    with pytest.raises(SignupRefused) as missing:
        sign_up(name, GOOD)
    with pytest.raises(SignupRefused) as wrong:
        sign_up(name, GOOD, invite_code="0000-0000-0000-0000")
    assert (missing.value.code, wrong.value.code) == ("invite_required", "invalid_invite")

    code, expires_at = auth.create_invite(2)
    assert re.fullmatch(r"[0-9a-f]{4}(-[0-9a-f]{4}){3}", code)
    assert timedelta(days=2) - timedelta(minutes=1) < expires_at - utcnow() <= timedelta(days=2)
    user = sign_up(name, GOOD, invite_code=f" {code.replace('-', '').upper()} ")  # typed loosely
    with session_scope() as s:
        invite = s.exec(select(Invite).where(Invite.used_by == user.id)).one()
        assert invite.used_at is not None and code not in invite.code_hash
    with pytest.raises(SignupRefused) as reused:
        sign_up(name + "b", GOOD, invite_code=code)  # single use
    assert reused.value.code == "invalid_invite"

    old, _ = auth.create_invite(1)
    with session_scope() as s:
        s.execute(sa_update(Invite).where(Invite.code_hash == auth._invite_hash(old))
                  .values(expires_at=utcnow() - timedelta(seconds=1)))
    with pytest.raises(SignupRefused) as expired:
        sign_up(name + "c", GOOD, invite_code=old)
    assert expired.value.code == "invalid_invite"


def test_an_invite_cannot_be_used_twice_at_once(name, private_namespace):
    private_namespace(allow_signup="invite")
    code, _ = auth.create_invite()
    barrier = threading.Barrier(3)
    outcomes: list[object] = []

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            outcomes.append(sign_up(f"{name}{i}", GOOD, invite_code=code))
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test inspects
            outcomes.append(exc)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(isinstance(o, User) for o in outcomes) == 1
    assert all(isinstance(o, SignupRefused) and o.code == "invalid_invite" for o in outcomes if not isinstance(o, User))
    with session_scope() as s:  # the losers left no account behind
        assert len(s.exec(select(User).where(User.username.startswith(name))).all()) == 1


def test_in_open_mode_the_first_account_is_the_administrator(name):
    with session_scope() as s:
        s.execute(sa_update(User).values(is_admin=False))
    first, second = sign_up(name, GOOD), sign_up(name + "b", GOOD)
    assert (first.is_admin, second.is_admin) == (True, False)


def test_disabled_user_cannot_log_in_and_loses_every_session(name):
    sign_up(name, GOOD)
    _, one = log_in(name, GOOD)
    _, two = log_in(name, GOOD)
    assert auth.set_disabled(name.upper(), True) == 2
    assert user_for_token(one) is None and user_for_token(two) is None
    assert asyncio.run(auth.is_revoked(auth.token_hash(one)))  # open tabs hear of it through Redis
    with pytest.raises(InvalidCredentials):
        log_in(name, GOOD + "x")  # nothing is said about the account without its password
    with pytest.raises(AccountDisabled) as err:
        log_in(name, GOOD)
    assert "disabled" in err.value.user_message
    assert auth.set_disabled(name, False) == 0
    assert log_in(name, GOOD)[0].username == name
    with pytest.raises(auth.UnknownUser):
        auth.set_disabled(name + "nobody", True)


def test_logout_marks_the_session_revoked_until_it_would_expire(name, redis_url):
    sign_up(name, GOOD)
    _, token = log_in(name, GOOD)
    hashed = auth.token_hash(token)
    assert not asyncio.run(auth.is_revoked(hashed))
    log_out(token)
    assert asyncio.run(auth.is_revoked(hashed))
    ttl = redis.Redis.from_url(redis_url).ttl(auth._revoked_key(hashed))
    assert get_settings().session_days * 86400 - 60 < ttl <= get_settings().session_days * 86400


def test_log_in_purges_the_users_expired_sessions_and_housekeeping_purges_all(name, monkeypatch):
    user = sign_up(name, GOOD)
    _, old = log_in(name, GOOD)
    with session_scope() as s:
        s.execute(sa_update(AuthSession).where(AuthSession.token_hash == auth.token_hash(old))
                  .values(expires_at=utcnow() - timedelta(hours=1)))
    _, live = log_in(name, GOOD)
    assert [r.token_hash for r in _session_rows(user.id)] == [auth.token_hash(live)]
    monkeypatch.setattr(auth, "_next_purge", 0.0)
    assert auth.purge_expired_sessions_if_due() is not None
    assert auth.purge_expired_sessions_if_due() is None  # not due again for PURGE_EVERY_S


def test_every_refusal_code_has_a_message():
    for code in ("invalid_credentials", "account_disabled", "signup_closed", "invite_required", "invalid_invite",
                 "username_taken", "busy", "service_unavailable", "bad_origin", "bad_request", "session_ended",
                 "password_too_short", "invalid_username_chars", "error"):
        assert auth.message_for(code)
    assert auth.message_for("login_throttled", 42) == "Too many log-in attempts. Wait 42 s and try again."
    assert auth.message_for("<script>") is None


def test_create_user_makes_an_administrator_whatever_the_signup_mode(name, private_namespace):
    private_namespace(allow_signup="closed")
    user = auth.create_user(name, GOOD, admin=True)
    assert user.is_admin and log_in(name, GOOD)[0].id == user.id
    rows = {r.username: r for r in auth.list_users()}
    assert rows[name].is_admin and rows[name].sessions == 1 and rows[name].has_password
    with pytest.raises(UsernameTaken):
        auth.create_user(name.upper(), GOOD)
