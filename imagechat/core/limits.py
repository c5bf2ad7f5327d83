"""Per-user rate limits (the `limits` library on Redis) and cost budgets (a ledger in PostgreSQL).

Budget reservations are serialised by a transaction-scoped advisory lock, so concurrent submits can
never together exceed a daily, monthly or global cap: each one sees the others' reservations.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import lru_cache

import limits
from limits.errors import StorageError
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import func, text
from sqlmodel import Session, select

from imagechat.core.errors import BudgetExceeded, EngineUnavailable, RateLimited
from imagechat.models import LedgerStatus, UsageEntry, utcnow
from imagechat.settings import get_settings

_BUDGET_LOCK_KEY = 0x1A9EC4A7  # any constant shared by every process
_COUNTED = (LedgerStatus.RESERVED, LedgerStatus.CHARGED)


@lru_cache
def _limiter(redis_url: str, namespace: str) -> MovingWindowRateLimiter:
    return MovingWindowRateLimiter(RedisStorage(redis_url, key_prefix=f"{namespace}:rl", wrap_exceptions=True))


def check_rate_limit(owner_id: int) -> None:
    """Count one image request for this user, or raise RateLimited saying when to try again."""
    settings = get_settings()
    item = limits.parse(settings.rate_limit)
    limiter = _limiter(settings.redis_url, settings.redis_namespace)
    try:
        if limiter.hit(item, "images", str(owner_id)):
            return
        reset_at, _remaining = limiter.get_window_stats(item, "images", str(owner_id))
    except StorageError:
        raise EngineUnavailable("The image queue is unreachable right now. Try again in a minute.") from None
    wait = max(1, int(reset_at - utcnow().timestamp() + 0.999))
    per = item.GRANULARITY.name if item.multiples == 1 else f"{item.multiples} {item.GRANULARITY.name}s"
    raise RateLimited(
        f"You've reached the limit of {item.amount} image requests per {per}. Try again in {wait} s.",
        retry_after_s=wait,
    )


def _period_starts(now: datetime) -> tuple[datetime, datetime]:
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return day, day.replace(day=1)


def _spent(session: Session, since: datetime, owner_id: int | None) -> float:
    query = select(func.coalesce(func.sum(UsageEntry.amount_usd), 0.0)).where(
        UsageEntry.created_at >= since, UsageEntry.status.in_(_COUNTED)
    )
    if owner_id is not None:
        query = query.where(UsageEntry.owner_id == owner_id)
    return float(session.exec(query).one())


def reserve(session: Session, *, owner_id: int, job_id: uuid.UUID, amount_usd: float, engine: str, model: str) -> None:
    """Reserve `amount_usd` for a job inside the caller's transaction, or raise BudgetExceeded."""
    if amount_usd > 0:
        settings = get_settings()
        session.execute(text("SELECT pg_advisory_xact_lock(:k)").bindparams(k=_BUDGET_LOCK_KEY))
        day, month = _period_starts(utcnow())
        caps = (
            (_spent(session, day, owner_id), settings.user_daily_budget_usd,
             "your daily image budget (${cap:.2f}) is used up; it resets at midnight UTC."),
            (_spent(session, month, owner_id), settings.user_monthly_budget_usd,
             "your monthly image budget (${cap:.2f}) is used up; it resets on the 1st (UTC)."),
            (_spent(session, month, None), settings.global_monthly_budget_usd,
             "this server's monthly image budget is used up; ask the administrator to raise it."),
        )
        for spent, cap, why in caps:
            if spent + amount_usd > cap + 1e-9:
                raise BudgetExceeded(f"This image would cost about ${amount_usd:.2f}, but " + why.format(cap=cap))
    session.add(UsageEntry(owner_id=owner_id, job_id=job_id, status=LedgerStatus.RESERVED, amount_usd=amount_usd,
                           engine=engine, model=model))


def settle(session: Session, job_id: uuid.UUID, *, cost_usd: float, usage: dict | None = None) -> None:
    """Turn a job's reservation into the actual charge."""
    entry = session.exec(select(UsageEntry).where(UsageEntry.job_id == job_id).with_for_update()).first()
    if entry is None or entry.status != LedgerStatus.RESERVED:
        return
    entry.status, entry.amount_usd, entry.usage, entry.settled_at = LedgerStatus.CHARGED, cost_usd, usage or {}, utcnow()
    session.add(entry)


def release(session: Session, job_id: uuid.UUID) -> None:
    """No charge: the job failed or was cancelled."""
    entry = session.exec(select(UsageEntry).where(UsageEntry.job_id == job_id).with_for_update()).first()
    if entry is None or entry.status != LedgerStatus.RESERVED:
        return
    entry.status, entry.settled_at = LedgerStatus.RELEASED, utcnow()
    session.add(entry)

