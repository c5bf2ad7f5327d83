"""The usage figures (core/usage.py) from ledger rows seeded in the real PostgreSQL: budgets with the user's own
caps, the 80% warning, the breakdown by engine and model, the 30-day chart, money saved by answers from the
library, recent jobs, and that nothing of another user's ever shows."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlmodel import select

from imagechat.core import limits, usage
from imagechat.db import session_scope
from imagechat.models import GenerationJob, JobStatus, LedgerStatus, UsageEntry, User, utcnow


@pytest.fixture
def defaults(monkeypatch, database_url):
    from imagechat.settings import get_settings

    monkeypatch.setenv("USER_DAILY_BUDGET_USD", "2.0")
    monkeypatch.setenv("USER_MONTHLY_BUDGET_USD", "20.0")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def _entry(owner: int, amount: float, *, status: str = LedgerStatus.CHARGED, engine: str = "openai",
           model: str = "gpt-image-2", at=None, usage_json: dict | None = None, job_id=None) -> None:
    with session_scope() as s:
        s.add(UsageEntry(owner_id=owner, job_id=job_id, status=status, amount_usd=amount, engine=engine, model=model,
                         usage=usage_json or {}, created_at=at or utcnow() - timedelta(minutes=1)))


def _set_caps(owner: int, daily=None, monthly=None) -> None:
    with session_scope() as s:
        user = s.get(User, owner)
        user.daily_budget_usd, user.monthly_budget_usd = daily, monthly
        s.add(user)


def test_budget_status_counts_today_and_month_and_warns_at_80_percent(make_user, defaults):
    owner, other = make_user("usage"), make_user("usage")
    day_start, month_start = limits.period_starts(utcnow())
    _entry(owner, 1.00)
    _entry(owner, 0.66, status=LedgerStatus.RESERVED, model="gpt-image-1.5")  # a job still running counts
    _entry(owner, 5.00, status=LedgerStatus.RELEASED)  # released: never counts
    _entry(owner, 3.00, at=month_start - timedelta(hours=1))  # last month
    _entry(other, 1.50)  # someone else's
    status = usage.budget_status(owner)
    assert status.spent_today == pytest.approx(1.66) and status.spent_month == pytest.approx(1.66)
    assert (status.daily_cap, status.monthly_cap) == (2.0, 20.0)
    assert status.left_today == pytest.approx(0.34) and status.left_month == pytest.approx(18.34)
    assert status.warning == "You've used 83% of today's image budget ($1.66 of $2.00)."

    # The user's own caps replace the settings: a larger daily budget, a monthly one nearly used up.
    _set_caps(owner, daily=10.0, monthly=1.80)
    status = usage.budget_status(owner)
    assert (status.daily_cap, status.monthly_cap) == (10.0, 1.80)
    assert status.warning == "You've used 92% of this month's image budget ($1.66 of $1.80)."

    _set_caps(owner, daily=1.66, monthly=None)  # all of today's used: says when it resets
    assert usage.budget_status(owner).warning == (
        "You've used all of today's image budget ($1.66 of $1.66); it resets at midnight UTC.")

    _set_caps(owner, daily=None, monthly=None)
    assert usage.budget_status(other).warning == ""  # 75%: no warning yet
    assert usage.budget_status(other).spent_today == pytest.approx(1.50)


def test_warning_is_rounded_down_and_ignores_a_zero_cap(make_user, defaults):
    owner = make_user("usage")
    _entry(owner, 1.599)  # 79.95% of $2.00: not yet 80%
    assert usage.budget_status(owner).warning == ""
    _entry(owner, 0.39)  # 99.45%: "99%", never "100%" while something is left
    assert usage.budget_status(owner).warning.startswith("You've used 99% of today's")
    fresh = make_user("usage")
    _set_caps(fresh, daily=0.0)  # nothing spent against a zero cap: nothing to warn about
    assert usage.budget_status(fresh).warning == ""


def test_summary_breaks_down_by_model_day_and_saving(make_user, defaults):
    owner, other = make_user("usage"), make_user("usage")
    now = utcnow()
    day_start, month_start = limits.period_starts(now)
    _entry(owner, 0.25)
    _entry(owner, 0.50)
    _entry(owner, 0.04, model="gpt-image-1-mini")
    _entry(owner, 0.0, engine="offline", model="")
    _entry(owner, 0.10, status=LedgerStatus.RELEASED, model="gpt-image-1-mini")
    _entry(owner, 0.75, at=now - timedelta(days=40))  # outside the chart (and this month)
    yesterday = day_start - timedelta(hours=1)
    _entry(owner, 0.30, model="gpt-image-1.5", at=yesterday)
    # Answers from the library: what they saved is in their usage JSON.
    _entry(owner, 0.0, usage_json={"cached": True, "saved_usd": 0.19})
    _entry(owner, 0.0, usage_json={"cached": True, "saved_usd": 0.06}, at=now - timedelta(days=40))
    _entry(owner, 0.0, usage_json={"cached": True, "saved_usd": "lots"})  # not a number: counted as 0
    _entry(owner, 0.0, usage_json={"cached": True, "saved_usd": 9.0}, status=LedgerStatus.RELEASED)
    _entry(owner, 0.0, usage_json={"cached": False, "saved_usd": 9.0})
    _entry(other, 7.0, usage_json={"cached": True, "saved_usd": 3.0})

    found = usage.summary(owner)
    in_month = yesterday >= month_start
    by_model = {(m.engine, m.model): (m.requests, round(m.usd, 4)) for m in found.by_model}
    # Two charged rows, and three of this month's rows marked cached (amount 0) are openai/gpt-image-2 too.
    expected = {("openai", "gpt-image-2"): (2 + 3, 0.75), ("openai", "gpt-image-1-mini"): (1, 0.04),
                ("offline", ""): (1, 0.0)}
    if in_month:
        expected[("openai", "gpt-image-1.5")] = (1, 0.30)
    assert by_model == expected
    assert found.by_model[0].model == "gpt-image-2"  # most spent first

    assert len(found.daily) == usage.CHART_DAYS and found.daily[-1].day == now.date()
    assert found.daily[-1].usd == pytest.approx(0.79)
    assert found.daily[-2].day == yesterday.date() and found.daily[-2].usd == pytest.approx(0.30)
    assert sum(d.usd for d in found.daily) == pytest.approx(1.09)  # the 40-day-old row is not drawn
    assert found.daily[0].day == now.date() - timedelta(days=usage.CHART_DAYS - 1)

    assert found.saved_month_usd == pytest.approx(0.19) and found.saved_total_usd == pytest.approx(0.25)
    # This month's, the 40-day-old one and the one without a number; not the released one, nor "cached": false.
    assert found.cached_answers == 3


def test_empty_usage_is_zero_everywhere(make_user, defaults):
    owner = make_user("usage")
    found = usage.summary(owner)
    assert found.by_model == [] and found.recent == [] and found.cached_answers == 0
    assert found.saved_month_usd == 0.0 and all(d.usd == 0.0 for d in found.daily)
    assert (found.budget.spent_today, found.budget.spent_month, found.budget.warning) == (0.0, 0.0, "")


def test_recent_jobs_are_the_owners_newest(make_user, defaults):
    owner, other = make_user("usage"), make_user("usage")
    now = utcnow()
    with session_scope() as s:
        for i in range(usage.RECENT_JOBS + 2):
            s.add(GenerationJob(owner_id=owner, engine="offline", prompt=f"mine {i}", status=JobStatus.SUCCEEDED,
                                created_at=now - timedelta(minutes=60 - i), finished_at=now))
        s.add(GenerationJob(owner_id=other, engine="offline", prompt="theirs", status=JobStatus.FAILED,
                            created_at=now, finished_at=now))
    recent = usage.summary(owner).recent
    assert [j.prompt for j in recent] == [f"mine {i}" for i in range(usage.RECENT_JOBS + 1, 1, -1)]
    with session_scope() as s:
        theirs = s.exec(select(GenerationJob.id).where(GenerationJob.owner_id == other)).all()
    assert not {str(j) for j in theirs} & {j.id for j in recent}


def test_nothing_of_another_user_shows(make_user, defaults):
    """Every figure of the summary is the same whatever other users spend."""
    owner, other = make_user("usage"), make_user("usage")
    _entry(owner, 0.40)
    before = usage.summary(owner)
    _entry(other, 1.23, model="gpt-image-1.5")
    _entry(other, 0.0, usage_json={"cached": True, "saved_usd": 5.0})
    with session_scope() as s:
        s.add(GenerationJob(owner_id=other, engine="offline", prompt="x", status=JobStatus.SUCCEEDED,
                            id=uuid.uuid4()))
    after = usage.summary(owner)
    assert (after.budget, after.by_model, after.daily, after.saved_total_usd, after.cached_answers) == (
        before.budget, before.by_model, before.daily, before.saved_total_usd, before.cached_answers)
    assert [j.id for j in after.recent] == [j.id for j in before.recent]
