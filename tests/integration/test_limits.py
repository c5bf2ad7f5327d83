"""Rate limits and budgets under concurrency, on the real Redis and PostgreSQL."""

import threading
import uuid

import pytest
from sqlmodel import select

from imagechat.core import limits
from imagechat.core.errors import BudgetExceeded, RateLimited
from imagechat.db import session_scope
from imagechat.models import GenerationJob, UsageEntry
from imagechat.settings import get_settings


@pytest.fixture
def settings_env(monkeypatch, database_url, redis_url):
    def apply(**values):
        for key, value in values.items():
            monkeypatch.setenv(key.upper(), str(value))
        get_settings.cache_clear()

    yield apply
    monkeypatch.undo()
    get_settings.cache_clear()


def _race(n, fn):
    barrier = threading.Barrier(n)
    results = []

    def run():
        barrier.wait()
        try:
            fn()
            results.append("ok")
        except Exception as exc:  # collected and asserted below
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_concurrent_requests_never_exceed_the_rate_limit(settings_env, make_user):
    settings_env(rate_limit="5/minute")
    owner = make_user()
    results = _race(20, lambda: limits.check_rate_limit(owner))
    assert results.count("ok") == 5
    refused = [r for r in results if r != "ok"]
    assert len(refused) == 15 and all(isinstance(r, RateLimited) for r in refused)
    assert "limit of 5 image requests per minute" in refused[0].user_message
    assert 1 <= refused[0].retry_after_s <= 60


def test_rate_limit_is_per_user(settings_env, make_user):
    settings_env(rate_limit="2/minute")
    a, b = make_user(), make_user()
    for _ in range(2):
        limits.check_rate_limit(a)
    with pytest.raises(RateLimited):
        limits.check_rate_limit(a)
    limits.check_rate_limit(b)  # b is unaffected


def _job(owner: int) -> uuid.UUID:
    with session_scope() as s:
        job = GenerationJob(owner_id=owner, engine="openai", prompt="x", params={})
        s.add(job)
        s.flush()
        return job.id


def _reserve(owner: int, amount: float) -> uuid.UUID:
    job_id = _job(owner)
    with session_scope() as s:
        limits.reserve(s, owner_id=owner, job_id=job_id, amount_usd=amount, engine="openai", model="gpt-image-1")
    return job_id


def test_concurrent_reservations_never_exceed_the_daily_budget(settings_env, make_user):
    settings_env(user_daily_budget_usd=1.0, user_monthly_budget_usd=100, global_monthly_budget_usd=10_000)
    owner = make_user()
    results = _race(12, lambda: _reserve(owner, 0.25))
    assert results.count("ok") == 4
    errors = [r for r in results if r != "ok"]
    assert all(isinstance(e, BudgetExceeded) for e in errors)
    assert "daily image budget ($1.00)" in errors[0].user_message
    with session_scope() as s:
        reserved = s.exec(select(UsageEntry).where(UsageEntry.owner_id == owner)).all()
    assert sum(e.amount_usd for e in reserved) == pytest.approx(1.0)


def test_global_cap_applies_across_users(settings_env, make_user):
    settings_env(user_daily_budget_usd=100, user_monthly_budget_usd=100, global_monthly_budget_usd=0.5)
    with session_scope() as s:  # this test's cap counts everyone's spending, so start from a clean ledger
        for e in s.exec(select(UsageEntry)).all():
            s.delete(e)
    users = [make_user() for _ in range(6)]
    results = _race(6, lambda: _reserve(users.pop(), 0.2))
    assert results.count("ok") == 2
    assert "server's monthly image budget" in next(r for r in results if r != "ok").user_message


def test_failed_job_is_not_charged_and_frees_its_budget(settings_env, make_user):
    settings_env(user_daily_budget_usd=0.5, user_monthly_budget_usd=100, global_monthly_budget_usd=10_000)
    owner = make_user()
    failed = _reserve(owner, 0.4)
    with pytest.raises(BudgetExceeded):
        _reserve(owner, 0.2)
    with session_scope() as s:
        limits.release(s, failed)
    done = _reserve(owner, 0.2)
    with session_scope() as s:
        limits.settle(s, done, cost_usd=0.17, usage={"output_tokens": 4160})
    with session_scope() as s:
        entries = {e.job_id: e for e in s.exec(select(UsageEntry).where(UsageEntry.owner_id == owner)).all()}
    assert entries[failed].status == "released"
    assert (entries[done].status, entries[done].amount_usd) == ("charged", 0.17)
    assert entries[done].usage == {"output_tokens": 4160}


def test_in_flight_slots_are_capped_per_user_and_freed(settings_env, make_user):
    settings_env()
    alice, bob = make_user(), make_user()
    with limits.in_flight_slot(alice, "chat", 2), limits.in_flight_slot(alice, "chat", 2):
        with pytest.raises(RateLimited), limits.in_flight_slot(alice, "chat", 2):
            pass
        with limits.in_flight_slot(bob, "chat", 2):  # another user's slots are their own
            pass
    with limits.in_flight_slot(alice, "chat", 2):  # released on the way out, refused ones too
        pass


def test_concurrent_in_flight_slots_never_exceed_the_cap(settings_env, make_user):
    settings_env()
    alice = make_user()
    inside, peak, lock = [0], [0], threading.Lock()

    def hold():
        with limits.in_flight_slot(alice, "chat", 3):
            with lock:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
            threading.Event().wait(0.2)
            with lock:
                inside[0] -= 1

    results = _race(12, hold)
    assert peak[0] <= 3 and results.count("ok") >= 3
    assert all(r == "ok" or isinstance(r, RateLimited) for r in results)
