"""Per-user rate limits (the `limits` library on Redis) and cost budgets (a ledger in PostgreSQL).

Budget reservations are serialised by a transaction-scoped advisory lock, so concurrent submits can
never together exceed a daily, monthly or global cap: each one sees the others' reservations.

A user's own daily and monthly budget and image rate limit, set by an administrator (core.admin), replace the
server-wide settings for that user (`user_caps`); None in the user's row means the setting applies.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
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
from imagechat.db import session_scope
from imagechat.models import LedgerStatus, UsageEntry, User, utcnow
from imagechat.settings import get_settings

NOTHING_QUEUED_DB = "The database is unavailable right now; nothing was queued. Try again in a minute."
_BUDGET_LOCK_KEY = 0x1A9EC4A7  # any constant shared by every process
COUNTED = (LedgerStatus.RESERVED, LedgerStatus.CHARGED)  # what counts against a budget


@lru_cache
def _limiter(redis_url: str, namespace: str) -> MovingWindowRateLimiter:
    return MovingWindowRateLimiter(RedisStorage(redis_url, key_prefix=f"{namespace}:rl", wrap_exceptions=True))


_BUCKETS = {  # what is limited -> (the setting holding its rate, how the message names it)
    "images": ("rate_limit", "image requests"),
    "chat": ("chat_rate_limit", "chat-model answers"),
}


@dataclass(frozen=True)
class UserCaps:
    """What applies to one user: their own values where an administrator set them, else the settings."""

    daily_usd: float
    monthly_usd: float
    rate_limit: str  # limits syntax
    own_daily: bool = False
    own_monthly: bool = False
    own_rate: bool = False


def caps_for(daily_usd: float | None, monthly_usd: float | None, rate_limit: str | None) -> UserCaps:
    """The caps of a user whose row holds these overrides (None: the setting)."""
    settings = get_settings()
    return UserCaps(
        daily_usd=settings.user_daily_budget_usd if daily_usd is None else daily_usd,
        monthly_usd=settings.user_monthly_budget_usd if monthly_usd is None else monthly_usd,
        rate_limit=settings.rate_limit if rate_limit is None else rate_limit,
        own_daily=daily_usd is not None, own_monthly=monthly_usd is not None, own_rate=rate_limit is not None)


def user_caps(session: Session, owner_id: int) -> UserCaps:
    row = session.exec(select(User.daily_budget_usd, User.monthly_budget_usd, User.rate_limit)
                       .where(User.id == owner_id)).first()
    return caps_for(*row) if row is not None else caps_for(None, None, None)


def _rate_item(owner_id: int, bucket: str) -> limits.RateLimitItem:
    settings = get_settings()
    if bucket == "images":
        try:
            with session_scope() as session:
                rate = user_caps(session, owner_id).rate_limit
        except ServiceUnavailable:
            raise ServiceUnavailable(NOTHING_QUEUED_DB) from None
        try:
            return limits.parse(rate)
        except ValueError:  # admin.set_limits validates; a hand-edited row falls back to the setting
            return limits.parse(settings.rate_limit)
    return limits.parse(getattr(settings, _BUCKETS[bucket][0]))


def check_rate_limit(owner_id: int, bucket: str = "images") -> None:
    """Count one request of this kind for this user, or raise RateLimited saying when to try again.
    Image requests follow the user's own rate limit when an administrator set one."""
    settings = get_settings()
    _setting, noun = _BUCKETS[bucket]
    item = _rate_item(owner_id, bucket)
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


def period_starts(now: datetime) -> tuple[datetime, datetime]:
    """The start of `now`'s day and month (UTC): when the daily and monthly budgets reset."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return day, day.replace(day=1)


def spent_since(session: Session, since: datetime, owner_id: int | None) -> float:
    """What counts against the budgets since then: one user's, or everyone's (owner_id None)."""
    query = select(func.coalesce(func.sum(UsageEntry.amount_usd), 0.0)).where(
        UsageEntry.created_at >= since, UsageEntry.status.in_(COUNTED)
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
        day, month = period_starts(utcnow())
        own = user_caps(session, owner_id)
        caps = (
            (spent_since(session, day, owner_id), own.daily_usd,
             "your daily image budget (${cap:.2f}) is used up; it resets at midnight UTC."),
            (spent_since(session, month, owner_id), own.monthly_usd,
             "your monthly image budget (${cap:.2f}) is used up; it resets on the 1st (UTC)."),
            (spent_since(session, month, None), settings.global_monthly_budget_usd,
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

