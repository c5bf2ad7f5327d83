"""The administrator's functions (core/admin.py) and the per-user limits they set (core/limits.py), on a database
of this module's own (so server-wide figures such as the queue and global spending are exact):
non-administrators are refused everything; figures come out right from seeded rows; a user's own budgets and
rate limit are enforced; disabling ends every session; the ledger CSV is complete, and refused without an
administrator's session."""

from __future__ import annotations

import csv
import io
import os
import uuid
from datetime import timedelta

import pytest
from sqlmodel import select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from imagechat.api import admin as admin_api
from imagechat.core import admin, auth, limits, queue
from imagechat.core.errors import BudgetExceeded, InvalidRequest, NotFound, RateLimited
from imagechat.db import session_scope
from imagechat.models import AuthSession, GenerationJob, JobStatus, LedgerStatus, UsageEntry, User, utcnow
from tests.support.services import temporary_database


def _reset_caches() -> None:
    from imagechat.db import get_engine
    from imagechat.settings import get_settings

    get_engine().dispose()
    get_settings.cache_clear()
    get_engine.cache_clear()


@pytest.fixture(scope="module")
def own_database(database_url, redis_url):
    """A database for this module alone; the session's is back afterwards."""
    with temporary_database("imagechat_admin") as url:
        os.environ["DATABASE_URL"] = url
        _reset_caches()
        try:
            yield url
        finally:
            os.environ["DATABASE_URL"] = database_url
            _reset_caches()


@pytest.fixture
def env(own_database, monkeypatch):
    from imagechat.settings import get_settings

    def apply(**values):
        for key, value in values.items():
            monkeypatch.setenv(key.upper(), str(value))
        get_settings.cache_clear()

    apply(user_daily_budget_usd=2.0, user_monthly_budget_usd=20.0, global_monthly_budget_usd=200.0,
          rate_limit="100/minute")
    with session_scope() as s:  # each test starts with no users (so no jobs, no ledger)
        s.execute(User.__table__.delete())
    yield apply
    monkeypatch.undo()
    get_settings.cache_clear()


def _user(prefix: str = "u", *, is_admin: bool = False, disabled: bool = False) -> int:
    with session_scope() as s:
        user = User(username=f"{prefix}_{uuid.uuid4().hex[:8]}", password_hash="!", is_admin=is_admin,
                    disabled_at=utcnow() if disabled else None)
        s.add(user)
        s.flush()
        return user.id


def _entry(owner: int, amount: float, *, status=LedgerStatus.CHARGED, at=None, usage_json=None, model="gpt-image-2"):
    with session_scope() as s:
        s.add(UsageEntry(owner_id=owner, status=status, amount_usd=amount, engine="openai", model=model,
                         usage=usage_json or {}, created_at=at or utcnow() - timedelta(minutes=1)))


def _job(owner: int, status: str, *, created_ago_s: float = 60, run_s: float | None = None, held: bool = False,
         finished_ago_s: float = 30) -> None:
    now = utcnow()
    job = GenerationJob(owner_id=owner, engine="offline", prompt="x", status=status,
                        created_at=now - timedelta(seconds=created_ago_s),
                        heartbeat_at=None if held else now)
    if run_s is not None:
        job.finished_at = now - timedelta(seconds=finished_ago_s)
        job.started_at = job.finished_at - timedelta(seconds=run_s)
    with session_scope() as s:
        s.add(job)


def _username(user_id: int) -> str:
    with session_scope() as s:
        return s.get(User, user_id).username


# ---------------------------------------------------------------- who may


def test_everything_refuses_anyone_but_an_active_administrator(env):
    plain, retired = _user("plain"), _user("retired", is_admin=True, disabled=True)
    target = _user("target")
    for who in (plain, retired, 0, -1, 10**9, True, "1", None):
        assert admin.is_admin(who) is False
        calls = [
            (admin.spending, (who,), {}),
            (admin.operations, (who,), {}),
            (admin.ledger_csv, (who,), {}),
            (admin.set_limits, (who, target), {"daily_usd": 99.0, "monthly_usd": 99.0, "rate_limit": "1000/minute"}),
            (admin.set_disabled, (who, target, True), {}),
        ]
        for fn, args, kwargs in calls:
            with pytest.raises(NotFound):
                fn(*args, **kwargs)
    with session_scope() as s:
        row = s.get(User, target)
        assert (row.daily_budget_usd, row.monthly_budget_usd, row.rate_limit, row.disabled_at) == (None,) * 4


# ---------------------------------------------------------------- figures


def test_spending_per_user_and_in_all(env):
    me = _user("boss", is_admin=True)
    a, b = _user("alice"), _user("bob")
    _day, month = limits.period_starts(utcnow())
    _entry(a, 1.25)
    _entry(a, 0.50, status=LedgerStatus.RESERVED)
    _entry(a, 9.00, status=LedgerStatus.RELEASED)
    _entry(a, 4.00, at=month - timedelta(hours=2))  # last month
    _entry(b, 0.30)
    for _ in range(3):
        _job(a, JobStatus.SUCCEEDED, run_s=1)
    _job(b, JobStatus.FAILED, run_s=1)
    with session_scope() as s:
        s.add(GenerationJob(owner_id=b, engine="offline", prompt="old", status=JobStatus.SUCCEEDED,
                            created_at=month - timedelta(days=3)))
    env(global_monthly_budget_usd=10)
    found = admin.spending(me)
    assert found.global_month == pytest.approx(2.05) and found.global_cap == 10.0
    assert found.total_users == 3
    rows = {u.id: u for u in found.users}
    assert [u.id for u in found.users][:2] == [a, b]  # most spent this month first
    assert (rows[a].spent_today, rows[a].spent_month, rows[a].jobs_month) == (pytest.approx(1.75),
                                                                               pytest.approx(1.75), 3)
    assert (rows[b].spent_month, rows[b].jobs_month) == (pytest.approx(0.30), 1)
    assert rows[me].is_admin and not rows[a].is_admin and rows[me].spent_month == 0
    assert rows[a].caps == limits.caps_for(None, None, None)

    only_bob = admin.spending(me, search=_username(b)[:-2])
    assert [u.id for u in only_bob.users] == [b] and only_bob.total_users == 1
    assert admin.spending(me, search="%").users == []  # a LIKE wildcard is searched for as itself


def test_operations_from_the_jobs_table(env, private_namespace):
    me = _user("boss", is_admin=True)
    owner = _user("owner")
    _job(owner, JobStatus.QUEUED, created_ago_s=300)  # the oldest queued job: five minutes
    _job(owner, JobStatus.QUEUED, created_ago_s=20, held=True)
    _job(owner, JobStatus.RUNNING, created_ago_s=10)
    for run_s in (1, 2, 3, 4, 10):  # succeeded in the last hour
        _job(owner, JobStatus.SUCCEEDED, run_s=run_s, finished_ago_s=600)
    _job(owner, JobStatus.SUCCEEDED, run_s=100, finished_ago_s=5 * 3600)  # today, not in the last hour
    _job(owner, JobStatus.FAILED, run_s=0.5, finished_ago_s=120)
    _job(owner, JobStatus.CANCELLED, run_s=0.5, finished_ago_s=120)  # neither success nor failure
    _job(owner, JobStatus.SUCCEEDED, run_s=500, finished_ago_s=30 * 3600)  # yesterday: not counted

    private_namespace()  # no worker reports in this namespace, until one does
    assert admin.operations(me).workers_alive == 0
    queue.worker_heartbeat("test-host:1")
    ops = admin.operations(me)
    assert ops.workers_alive == 1
    assert (ops.queued, ops.held, ops.running) == (2, 1, 1)
    assert 299 <= ops.oldest_queued_s < 400
    assert ops.finished_last_hour == 6 and ops.jobs_per_minute == pytest.approx(0.1)
    assert (ops.finished_24h, ops.failed_24h) == (7, 1) and ops.failure_rate == pytest.approx(1 / 7)
    # percentile_cont over 1, 2, 3, 4, 10, 100 s
    assert ops.p50_s == pytest.approx(3.5) and ops.p95_s == pytest.approx(77.5)


def test_operations_of_an_idle_server(env, private_namespace):
    private_namespace()
    ops = admin.operations(_user("boss", is_admin=True))
    assert (ops.queued, ops.running, ops.oldest_queued_s, ops.failure_rate, ops.p50_s, ops.p95_s) == (
        0, 0, None, None, None, None)


# ---------------------------------------------------------------- per-user limits


@pytest.mark.parametrize(("text", "value"), [("", None), ("  ", None), ("2.5", 2.5), ("$3", 3.0), (" $ 1,000 ", 1000.0),
                                             ("0", 0.0)])
def test_parse_budget(text, value):
    assert admin.parse_budget(text) == value


@pytest.mark.parametrize("text", ["-1", "abc", "nan", "inf", "1e9", "x" * 40, None, 5, ["1"]])
def test_parse_budget_refuses(text):
    with pytest.raises(InvalidRequest):
        admin.parse_budget(text)


@pytest.mark.parametrize(("text", "value"), [("", None), ("10/minute", "10/minute"), (" 5  per   hour ", "5 per hour"),
                                             ("100/day", "100/day")])
def test_parse_rate(text, value):
    assert admin.parse_rate(text) == value


@pytest.mark.parametrize("text", ["10", "0/minute", "ten/minute", "10/fortnight", "10/minute;5/hour",
                                  "1000000/second", "x" * 65, 7])
def test_parse_rate_refuses(text):
    with pytest.raises(InvalidRequest):
        admin.parse_rate(text)


def _reserve(owner: int, amount: float) -> None:
    with session_scope() as s:
        limits.reserve(s, owner_id=owner, job_id=None, amount_usd=amount, engine="openai", model="gpt-image-2")


def test_own_budgets_are_enforced_and_can_be_given_back(env):
    me = _user("boss", is_admin=True)
    capped, free = _user("capped"), _user("free")
    caps = admin.set_limits(me, capped, daily_usd=0.5, monthly_usd=None, rate_limit=None)
    assert (caps.daily_usd, caps.own_daily, caps.monthly_usd, caps.own_monthly) == (0.5, True, 20.0, False)
    _reserve(capped, 0.4)
    with pytest.raises(BudgetExceeded, match=r"daily image budget \(\$0\.50\)"):
        _reserve(capped, 0.2)
    _reserve(free, 0.6)  # the setting ($2.00) still applies to everyone else

    admin.set_limits(me, capped, daily_usd=50.0, monthly_usd=0.7, rate_limit=None)  # above the setting too
    _reserve(capped, 0.3)
    with pytest.raises(BudgetExceeded, match=r"monthly image budget \(\$0\.70\)"):
        _reserve(capped, 0.01)

    admin.set_limits(me, capped, daily_usd=None, monthly_usd=None, rate_limit=None)  # back to the settings
    with session_scope() as s:
        assert limits.user_caps(s, capped) == limits.caps_for(None, None, None)
    _reserve(capped, 1.2)  # 1.9 of the default $2.00
    with pytest.raises(BudgetExceeded, match=r"daily image budget \(\$2\.00\)"):
        _reserve(capped, 0.2)


def test_own_rate_limit_is_enforced(env, private_namespace):
    private_namespace(rate_limit="100/minute")
    me = _user("boss", is_admin=True)
    slow, other = _user("slow"), _user("other")
    admin.set_limits(me, slow, daily_usd=None, monthly_usd=None, rate_limit="2/minute")
    limits.check_rate_limit(slow)
    limits.check_rate_limit(slow)
    with pytest.raises(RateLimited, match="limit of 2 image requests per minute"):
        limits.check_rate_limit(slow)
    for _ in range(5):
        limits.check_rate_limit(other)
    limits.check_rate_limit(slow, "chat")  # only image requests follow the user's own rate

    admin.set_limits(me, slow, daily_usd=None, monthly_usd=None, rate_limit="1/hour")  # stricter still
    with pytest.raises(RateLimited, match="limit of 1 image requests per hour"):
        for _ in range(2):
            limits.check_rate_limit(slow)


def test_set_limits_validates(env):
    me, target = _user("boss", is_admin=True), _user("t")
    for bad in ({"daily_usd": -1.0}, {"monthly_usd": float("nan")}, {"daily_usd": "5"}, {"rate_limit": "lots"}):
        args = {"daily_usd": None, "monthly_usd": None, "rate_limit": None, **bad}
        with pytest.raises(InvalidRequest):
            admin.set_limits(me, target, **args)
    with pytest.raises(NotFound):
        admin.set_limits(me, 10**9, daily_usd=1.0, monthly_usd=None, rate_limit=None)
    with session_scope() as s:
        row = s.get(User, target)
        assert (row.daily_budget_usd, row.monthly_budget_usd, row.rate_limit) == (None, None, None)


# ---------------------------------------------------------------- disable


def test_disable_ends_every_session_and_enable_lets_them_back(env):
    me, target = _user("boss", is_admin=True), _user("target")
    _user_obj, token = auth.start_session(target)
    assert auth.session_for_token(token) is not None
    assert admin.set_disabled(me, target, True) == _username(target)
    assert auth.session_for_token(token) is None
    with session_scope() as s:
        assert s.get(User, target).disabled_at is not None
        assert s.exec(select(AuthSession).where(AuthSession.user_id == target)).all() == []
    assert admin.spending(me).users  # the admin still works
    admin.set_disabled(me, target, False)
    with session_scope() as s:
        assert s.get(User, target).disabled_at is None
    with pytest.raises(InvalidRequest, match="own account"):
        admin.set_disabled(me, me, True)
    with pytest.raises(InvalidRequest):
        admin.set_disabled(me, target, "yes")


# ---------------------------------------------------------------- the ledger as CSV


def _client() -> TestClient:
    return TestClient(Starlette(routes=admin_api.routes))


def test_ledger_csv_has_every_row_and_defuses_formulas(env):
    me = _user("boss", is_admin=True)
    a = _user("alice")
    _entry(a, 0.125, usage_json={"tokens": 10, "note": "=HYPERLINK(1)"})
    _entry(a, 0.5, status=LedgerStatus.RELEASED, model="-cmd")
    text = "".join(admin.ledger_csv(me, batch=1))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["status"] for r in rows] == ["charged", "released"]
    assert rows[0]["username"] == _username(a) and rows[0]["user_id"] == str(a)
    assert rows[0]["amount_usd"] == "0.125000" and rows[0]["usage"] == '{"note":"=HYPERLINK(1)","tokens":10}'
    assert rows[1]["model"] == "'-cmd" and rows[1]["usage"] == ""
    assert list(rows[0]) == list(admin.LEDGER_COLUMNS)


def test_ledger_route_needs_an_administrators_session(env):
    me, plain = _user("boss", is_admin=True), _user("plain")
    _entry(plain, 0.2)
    _u, admin_token = auth.start_session(me)
    _u, plain_token = auth.start_session(plain)
    with _client() as client:
        assert client.get("/api/admin/ledger.csv").status_code == 401
        client.cookies.set(auth.SESSION_COOKIE, "forged")
        assert client.get("/api/admin/ledger.csv").status_code == 401
        client.cookies.set(auth.SESSION_COOKIE, plain_token)
        refused = client.get("/api/admin/ledger.csv")
        assert refused.status_code == 404 and "0.2" not in refused.text
        client.cookies.set(auth.SESSION_COOKIE, admin_token)
        ok = client.get("/api/admin/ledger.csv")
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/csv")
    assert "attachment" in ok.headers["content-disposition"] and ok.headers["cache-control"] == "private, no-store"
    rows = list(csv.DictReader(io.StringIO(ok.text)))
    assert [(r["username"], r["amount_usd"]) for r in rows] == [(_username(plain), "0.200000")]
    assert "password" not in ok.text and "!" not in ok.text  # no hashes, no secrets
