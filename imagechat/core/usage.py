"""What a user has spent, read from the cost ledger (usage_ledger): against their budgets, by engine and model,
per day, and what answers from their library saved. Every query is scoped to the owner.

Spending is what counts against the budgets (core.limits.COUNTED): charged amounts and reservations of jobs
still running. Days and months are UTC, as the budgets reset (limits.period_starts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import func
from sqlmodel import Session, select

from imagechat.core import history, limits
from imagechat.core.history import JobEntry
from imagechat.db import session_scope
from imagechat.models import LedgerStatus, UsageEntry, utcnow

WARN_AT = 0.8  # a budget this much used gets a warning in the chat
CHART_DAYS = 30
RECENT_JOBS = 8


@dataclass(frozen=True)
class BudgetStatus:
    spent_today: float
    daily_cap: float
    spent_month: float
    monthly_cap: float
    warning: str = ""  # "" below WARN_AT of both caps

    @property
    def left_today(self) -> float:
        return max(0.0, self.daily_cap - self.spent_today)

    @property
    def left_month(self) -> float:
        return max(0.0, self.monthly_cap - self.spent_month)

    @property
    def day_fraction(self) -> float:
        return used_fraction(self.spent_today, self.daily_cap)

    @property
    def month_fraction(self) -> float:
        return used_fraction(self.spent_month, self.monthly_cap)


@dataclass(frozen=True)
class ModelSpend:
    engine: str
    model: str
    requests: int
    usd: float


@dataclass(frozen=True)
class DaySpend:
    day: date
    usd: float


@dataclass
class UsageSummary:
    budget: BudgetStatus
    by_model: list[ModelSpend]  # this month, most spent first
    daily: list[DaySpend]  # the last CHART_DAYS days, oldest first, today last (days without spending: 0)
    recent: list[JobEntry] = field(default_factory=list)  # newest first
    saved_month_usd: float = 0.0  # what answers from the library would have cost
    saved_total_usd: float = 0.0
    cached_answers: int = 0  # all time


def used_fraction(spent: float, cap: float) -> float:
    """How much of a cap is used, 0..1 (a cap of 0 with nothing spent is unused)."""
    if cap <= 0:
        return 1.0 if spent > 0 else 0.0
    return min(1.0, max(0.0, spent / cap))


def _warning(spent_today: float, daily_cap: float, spent_month: float, monthly_cap: float) -> str:
    parts = []
    for spent, cap, name, resets in (
        (spent_today, daily_cap, "today's", "it resets at midnight UTC"),
        (spent_month, monthly_cap, "this month's", "it resets on the 1st (UTC)"),
    ):
        used = used_fraction(spent, cap)
        if cap <= 0 or used < WARN_AT:
            continue
        if spent >= cap - 1e-9:
            parts.append(f"You've used all of {name} image budget (${spent:.2f} of ${cap:.2f}); {resets}.")
        else:
            # Rounded down: 79.6% must not read "80%", nor 99.7% "100%" while something is left.
            parts.append(f"You've used {int(used * 100)}% of {name} image budget (${spent:.2f} of ${cap:.2f}).")
    return " ".join(parts)


def _status(session: Session, owner_id: int) -> BudgetStatus:
    day, month = limits.period_starts(utcnow())
    caps = limits.user_caps(session, owner_id)
    today, this_month = limits.spent_since(session, day, owner_id), limits.spent_since(session, month, owner_id)
    return BudgetStatus(spent_today=today, daily_cap=caps.daily_usd, spent_month=this_month,
                        monthly_cap=caps.monthly_usd,
                        warning=_warning(today, caps.daily_usd, this_month, caps.monthly_usd))


def budget_status(owner_id: int) -> BudgetStatus:
    """Today's and this month's spending against the user's budgets (their own caps where set), with a
    warning at WARN_AT of either."""
    with session_scope() as session:
        return _status(session, owner_id)


def _counted(owner_id: int):
    return (UsageEntry.owner_id == owner_id, UsageEntry.status.in_(limits.COUNTED))


def _by_model(session: Session, owner_id: int, since: datetime) -> list[ModelSpend]:
    usd = func.coalesce(func.sum(UsageEntry.amount_usd), 0.0)
    rows = session.exec(select(UsageEntry.engine, UsageEntry.model, func.count(), usd)
                        .where(*_counted(owner_id), UsageEntry.created_at >= since)
                        .group_by(UsageEntry.engine, UsageEntry.model)
                        .order_by(usd.desc(), UsageEntry.engine, UsageEntry.model)).all()
    return [ModelSpend(engine=e, model=m, requests=int(n), usd=float(v)) for e, m, n, v in rows]


def _daily(session: Session, owner_id: int, today: date) -> list[DaySpend]:
    first = today - timedelta(days=CHART_DAYS - 1)
    since = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    utc_day = func.date(func.timezone("UTC", UsageEntry.created_at))
    rows = session.exec(select(utc_day, func.sum(UsageEntry.amount_usd))
                        .where(*_counted(owner_id), UsageEntry.created_at >= since).group_by(utc_day)).all()
    spent = {d: float(v or 0.0) for d, v in rows}
    return [DaySpend(day=first + timedelta(days=i), usd=spent.get(first + timedelta(days=i), 0.0))
            for i in range(CHART_DAYS)]


# A ledger row of an answer from the library: usage {"cached": true, "saved_usd": <what a generation would cost>}.
# core.metrics counts them too.
CACHED_ANSWER = UsageEntry.usage["cached"] == sa.cast(sa.literal("true"), UsageEntry.usage.type)
SAVED_USD = sa.case((func.jsonb_typeof(UsageEntry.usage["saved_usd"]) == "number",
                     UsageEntry.usage["saved_usd"].as_float()), else_=0.0)


def _saved(session: Session, owner_id: int, month: datetime) -> tuple[float, float, int]:
    base = (UsageEntry.owner_id == owner_id, UsageEntry.status != LedgerStatus.RELEASED, CACHED_ANSWER)
    total, count = session.exec(select(func.coalesce(func.sum(SAVED_USD), 0.0), func.count()).where(*base)).one()
    this_month = session.exec(select(func.coalesce(func.sum(SAVED_USD), 0.0))
                              .where(*base, UsageEntry.created_at >= month)).one()
    return float(this_month), float(total), int(count)


def summary(owner_id: int) -> UsageSummary:
    """Everything the usage page shows, for one user."""
    now = utcnow()
    _day, month = limits.period_starts(now)
    with session_scope() as session:
        budget = _status(session, owner_id)
        by_model = _by_model(session, owner_id, month)
        daily = _daily(session, owner_id, now.date())
        saved_month, saved_total, cached = _saved(session, owner_id, month)
    recent = history.page(owner_id, limit=RECENT_JOBS).entries
    return UsageSummary(budget=budget, by_model=by_model, daily=daily, recent=recent, saved_month_usd=saved_month,
                        saved_total_usd=saved_total, cached_answers=cached)
