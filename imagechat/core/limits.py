"""Per-user rate limits (the `limits` library on Redis) and cost budgets (a ledger in PostgreSQL).

Budget reservations are serialised by a transaction-scoped advisory lock, so concurrent submits can
never together exceed a daily, monthly or global cap: each one sees the others' reservations.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from datetime import datetime
from functools import lru_cache

import limits
from limits.errors import StorageError
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter
from redis.exceptions import RedisError
from sqlalchemy import func, text
from sqlmodel import Session, select

from imagechat.core import redis_client
from imagechat.core.errors import BudgetExceeded, RateLimited, ServiceUnavailable
from imagechat.models import LedgerStatus, UsageEntry, utcnow
from imagechat.settings import get_settings

_BUDGET_LOCK_KEY = 0x1A9EC4A7  # any constant shared by every process
_COUNTED = (LedgerStatus.RESERVED, LedgerStatus.CHARGED)


@lru_cache
def _limiter(redis_url: str, namespace: str) -> MovingWindowRateLimiter:
    return MovingWindowRateLimiter(RedisStorage(redis_url, key_prefix=f"{namespace}:rl", wrap_exceptions=True))


_BUCKETS = {  # what is limited -> (the setting holding its rate, how the message names it)
    "images": ("rate_limit", "image requests"),
    "chat": ("chat_rate_limit", "chat-model answers"),
}


def check_rate_limit(owner_id: int, bucket: str = "images") -> None:
    """Count one request of this kind for this user, or raise RateLimited saying when to try again."""
    settings = get_settings()
    setting, noun = _BUCKETS[bucket]
    item = limits.parse(getattr(settings, setting))
    limiter = _limiter(settings.redis_url, settings.redis_namespace)
    try:
        if limiter.hit(item, bucket, str(owner_id)):
            return
        reset_at, _remaining = limiter.get_window_stats(item, bucket, str(owner_id))
    except StorageError:
        raise ServiceUnavailable("The image queue is unreachable right now; nothing was queued. "
                                 "Try again in a minute.") from None
    wait = max(1, int(reset_at - utcnow().timestamp() + 0.999))
    per = item.GRANULARITY.name if item.multiples == 1 else f"{item.multiples} {item.GRANULARITY.name}s"
    raise RateLimited(f"You've reached the limit of {item.amount} {noun} per {per}. Try again in {wait} s.",
                      retry_after_s=wait)


@contextlib.contextmanager
def in_flight_slot(owner_id: int, kind: str, cap: int, ttl_s: int = 600) -> Iterator[None]:
    """At most `cap` calls of this kind per user at once, across every process; RateLimited otherwise.

    A counter in Redis; its expiry frees the slots of a process that died holding them."""
    counter = redis_client.key("inflight", kind, str(owner_id))
    client = redis_client.client()
    try:
        held = client.incr(counter)
        client.expire(counter, ttl_s)
    except RedisError:
        raise ServiceUnavailable("The image queue is unreachable right now. Try again in a minute.") from None
    try:
        if held > cap:
            raise RateLimited(f"You already have {cap} answers on the way; wait for one of them.", retry_after_s=5)
        yield
    finally:
        with contextlib.suppress(RedisError):
            client.decr(counter)


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


def reserve(session: Session, *, owner_id: int, job_id: uuid.UUID | None, amount_usd: float, engine: str,
            model: str, what: str = "image") -> UsageEntry:
    """Reserve `amount_usd` inside the caller's transaction, or raise BudgetExceeded. Jobs reserve with
    their id; chat-model calls without one (`what` names the spending in the message)."""
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
                raise BudgetExceeded(f"This {what} would cost about ${amount_usd:.2f}, but " + why.format(cap=cap))
    entry = UsageEntry(owner_id=owner_id, job_id=job_id, status=LedgerStatus.RESERVED, amount_usd=amount_usd,
                       engine=engine, model=model)
    session.add(entry)
    session.flush()
    return entry


def settle(session: Session, job_id: uuid.UUID, *, cost_usd: float, usage: dict | None = None) -> None:
    """Turn a job's reservation into the actual charge."""
    entry = session.exec(select(UsageEntry).where(UsageEntry.job_id == job_id).with_for_update()).first()
    if entry is not None:
        settle_entry(session, entry, cost_usd=cost_usd, usage=usage)


def settle_entry(session: Session, entry: UsageEntry, *, cost_usd: float, usage: dict | None = None) -> None:
    if entry.status != LedgerStatus.RESERVED:
        return
    entry.status, entry.amount_usd, entry.usage = LedgerStatus.CHARGED, cost_usd, usage or {}
    entry.settled_at = utcnow()
    session.add(entry)


def charge_reservation(session: Session, job_id: uuid.UUID, *, why: str) -> None:
    """Charge the reserved amount when the real cost cannot be known (the engine call was cut short)."""
    entry = session.exec(select(UsageEntry).where(UsageEntry.job_id == job_id).with_for_update()).first()
    if entry is not None:
        charge_entry(session, entry, why=why)


def charge_entry(session: Session, entry: UsageEntry, *, why: str) -> None:
    if entry.status != LedgerStatus.RESERVED:
        return
    entry.status, entry.usage, entry.settled_at = LedgerStatus.CHARGED, {"billed": "unknown", "why": why}, utcnow()
    session.add(entry)


def release(session: Session, job_id: uuid.UUID) -> None:
    """No charge: the job failed or was cancelled before an engine had it."""
    entry = session.exec(select(UsageEntry).where(UsageEntry.job_id == job_id).with_for_update()).first()
    if entry is not None:
        release_entry(session, entry)


def release_entry(session: Session, entry: UsageEntry) -> None:
    if entry.status != LedgerStatus.RESERVED:
        return
    entry.status, entry.settled_at = LedgerStatus.RELEASED, utcnow()
    session.add(entry)

