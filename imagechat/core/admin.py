"""The administrator's view of the server: spending against the global cap, every user's spending with their
own budgets and rate limit, disabling a user, the job queue's health, and the ledger as CSV.

Every function takes the acting user's id first and refuses (NotAdmin, a NotFound: a non-administrator learns
nothing, not even that the page exists) unless that user is an administrator who is not disabled.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import limits as limits_lib
from redis.exceptions import RedisError
from sqlalchemy import func
from sqlmodel import Session, select

from imagechat.core import admission, auth, limits, queue
from imagechat.core.errors import InvalidRequest, NotFound
from imagechat.core.limits import UserCaps
from imagechat.db import session_scope
from imagechat.models import GenerationJob, JobStatus, UsageEntry, User, utcnow
from imagechat.settings import get_settings

log = logging.getLogger(__name__)

MAX_BUDGET_USD = 100_000.0
MAX_RATE_CHARS = 64
MAX_RATE_AMOUNT = 100_000
MAX_USERS_SHOWN = 200
SEARCH_CHARS = 32
NOT_ADMIN = "There is no such page."


class NotAdmin(NotFound):
    code = "not_found"


def is_admin(user_id: int) -> bool:
    if type(user_id) is not int or user_id <= 0:
        return False
    with session_scope() as s:
        row = s.exec(select(User.is_admin, User.disabled_at).where(User.id == user_id)).first()
    return row is not None and bool(row[0]) and row[1] is None


def require_admin(user_id: int) -> None:
    if not is_admin(user_id):
        raise NotAdmin(NOT_ADMIN)


# ---------------------------------------------------------------- per-user limits

def parse_budget(text: object) -> float | None:
    """A budget typed into the form: "" means the server-wide setting (None); "$2.50" and "2.5" are 2.5."""
    if not isinstance(text, str) or len(text) > 32:
        raise InvalidRequest("Type a budget in dollars, such as 2.50, or leave it empty for the default.")
    value = text.strip().removeprefix("$").strip().replace(",", "")
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        raise InvalidRequest("Type a budget in dollars, such as 2.50, or leave it empty for the default.") from None
    return check_budget(number)


def check_budget(value: float | None) -> float | None:
    if value is None:
        return None
    if type(value) not in (int, float) or not math.isfinite(value) or not 0 <= value <= MAX_BUDGET_USD:
        raise InvalidRequest(f"A budget must be between $0 and ${MAX_BUDGET_USD:,.0f}.")
    return round(float(value), 4)


def parse_rate(text: object) -> str | None:
    """A rate limit in the limits syntax ("10/minute", "100 per day"); "" means the RATE_LIMIT setting (None)."""
    if text is None:
        return None
    if not isinstance(text, str) or len(text) > MAX_RATE_CHARS:
        raise InvalidRequest("Type a rate limit such as 10/minute or 100/day, or leave it empty for the default.")
    value = " ".join(text.split())
    if not value:
        return None
    try:
        items = limits_lib.parse_many(value)
    except ValueError:
        items = []
    if len(items) != 1 or not 1 <= items[0].amount <= MAX_RATE_AMOUNT:
        raise InvalidRequest("Type one rate limit such as 10/minute or 100/day (at least 1 request), or leave it "
                             "empty for the default.")
    return value


def set_limits(admin_id: int, user_id: int, *, daily_usd: float | None, monthly_usd: float | None,
               rate_limit: str | None) -> UserCaps:
    """Give a user their own budgets and image rate limit; None for any of them: the setting applies again.
    Takes effect with the user's next request."""
    require_admin(admin_id)
    daily, monthly, rate = check_budget(daily_usd), check_budget(monthly_usd), parse_rate(rate_limit)
    with session_scope() as s:
        user = s.get(User, user_id) if type(user_id) is int and user_id > 0 else None
        if user is None:
            raise NotFound("That user no longer exists. Reload the page.")
        user.daily_budget_usd, user.monthly_budget_usd, user.rate_limit = daily, monthly, rate
        s.add(user)
        caps = limits.caps_for(daily, monthly, rate)
    log.info("administrator changed a user's limits", extra={"user_id": admin_id, "target_user_id": user_id})
    return caps


def set_disabled(admin_id: int, user_id: int, disabled: bool) -> str:
    """Disable a user (every session ends at once: their tabs return to the log-in page) or enable them again,
    as `python -m imagechat users disable|enable` does. Returns the username."""
    require_admin(admin_id)
    if type(disabled) is not bool:
        raise InvalidRequest("Choose to disable or enable the user.")
    if user_id == admin_id and disabled:
        raise InvalidRequest("You can't disable your own account. Another administrator, or the command line "
                             "(python -m imagechat users disable), can.")
    with session_scope() as s:
        user = s.get(User, user_id) if type(user_id) is int and user_id > 0 else None
        name = user.username if user is not None else None
    if name is None:
        raise NotFound("That user no longer exists. Reload the page.")
    auth.set_disabled(name, disabled)
    log.info("administrator %s a user", "disabled" if disabled else "enabled",
             extra={"user_id": admin_id, "target_user_id": user_id})
    return name


# ---------------------------------------------------------------- spending

@dataclass(frozen=True)
class UserSpend:
    id: int
    username: str
    is_admin: bool
    disabled: bool
    spent_today: float
    spent_month: float
    jobs_month: int
    caps: UserCaps


@dataclass(frozen=True)
class Spending:
    global_month: float
    global_cap: float
    users: list[UserSpend]  # at most MAX_USERS_SHOWN, most spent this month first
    total_users: int  # that match the search


def spending(admin_id: int, search: str = "") -> Spending:
    """This month's spending of the server and of each user (name containing `search`, if given)."""
    require_admin(admin_id)
    search = search.strip().lower()[:SEARCH_CHARS] if isinstance(search, str) else ""
    day, month = limits.period_starts(utcnow())
    counted = UsageEntry.status.in_(limits.COUNTED)
    ledger = (select(UsageEntry.owner_id,
                     func.coalesce(func.sum(UsageEntry.amount_usd).filter(UsageEntry.created_at >= day), 0.0)
                     .label("today"),
                     func.sum(UsageEntry.amount_usd).label("month"))
              .where(UsageEntry.created_at >= month, counted).group_by(UsageEntry.owner_id).subquery())
    jobs = (select(GenerationJob.owner_id, func.count().label("n")).where(GenerationJob.created_at >= month)
            .group_by(GenerationJob.owner_id).subquery())
    where = [User.username.contains(search, autoescape=True)] if search else []
    month_spent = func.coalesce(ledger.c.month, 0.0)
    with session_scope() as s:
        rows = s.exec(select(User.id, User.username, User.is_admin, User.disabled_at, User.daily_budget_usd,
                             User.monthly_budget_usd, User.rate_limit, func.coalesce(ledger.c.today, 0.0),
                             month_spent, func.coalesce(jobs.c.n, 0))
                      .outerjoin(ledger, ledger.c.owner_id == User.id).outerjoin(jobs, jobs.c.owner_id == User.id)
                      .where(*where).order_by(month_spent.desc(), User.username).limit(MAX_USERS_SHOWN)).all()
        total = s.exec(select(func.count()).select_from(User).where(*where)).one()
        global_month = limits.spent_since(s, month, None)
    users = [UserSpend(id=uid, username=name, is_admin=bool(admin), disabled=disabled_at is not None,
                       spent_today=float(today), spent_month=float(this_month), jobs_month=int(n),
                       caps=limits.caps_for(daily, monthly, rate))
             for uid, name, admin, disabled_at, daily, monthly, rate, today, this_month, n in rows]
    return Spending(global_month=global_month, global_cap=get_settings().global_monthly_budget_usd, users=users,
                    total_users=int(total))


# ---------------------------------------------------------------- operations

@dataclass(frozen=True)
class QueueFigures:
    queued: int  # on the queue or waiting for a free slot of their owner
    held: int  # of those, waiting for their owner's other jobs (fair scheduling)
    running: int
    oldest_queued_s: float | None  # age of the oldest queued job


@dataclass(frozen=True)
class Operations(QueueFigures):
    workers_alive: int | None  # None: Redis could not be asked
    finished_last_hour: int
    finished_24h: int  # succeeded or failed
    failed_24h: int
    p50_s: float | None  # generation time (started to finished) of jobs that succeeded in the last 24 h
    p95_s: float | None

    @property
    def jobs_per_minute(self) -> float:
        return self.finished_last_hour / 60

    @property
    def failure_rate(self) -> float | None:
        return self.failed_24h / self.finished_24h if self.finished_24h else None


def queue_figures(session: Session, now: datetime) -> QueueFigures:
    """The queue as PostgreSQL has it: counts only, no user data, so no administrator check (core.metrics
    serves them to its scrapers too). One indexed query over the queued and running jobs."""
    job = GenerationJob
    queued, held, oldest, running = session.exec(select(
        func.count().filter(job.status == JobStatus.QUEUED), func.count().filter(admission.HELD_BACK),
        func.min(job.created_at).filter(job.status == JobStatus.QUEUED),
        func.count().filter(job.status == JobStatus.RUNNING),
    ).where(job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)))).one()
    return QueueFigures(queued=int(queued), held=int(held), running=int(running),
                        oldest_queued_s=max(0.0, (now - oldest).total_seconds()) if oldest is not None else None)


def operations(admin_id: int) -> Operations:
    require_admin(admin_id)
    now = utcnow()
    hour, day = now - timedelta(hours=1), now - timedelta(hours=24)
    job = GenerationJob
    ended = job.status.in_((JobStatus.SUCCEEDED, JobStatus.FAILED))
    seconds = func.extract("epoch", job.finished_at - job.started_at)
    with session_scope() as s:
        q = queue_figures(s, now)
        last_hour, last_day, failed = s.exec(select(
            func.count().filter(job.finished_at >= hour), func.count(),
            func.count().filter(job.status == JobStatus.FAILED),
        ).where(ended, job.finished_at >= day)).one()
        p50, p95 = s.exec(select(
            func.percentile_cont(0.5).within_group(seconds), func.percentile_cont(0.95).within_group(seconds),
        ).where(job.status == JobStatus.SUCCEEDED, job.finished_at >= day, job.started_at.is_not(None))).one()
    try:
        workers = queue.workers_alive()
    except RedisError:
        workers = None
    return Operations(**asdict(q), workers_alive=workers, finished_last_hour=int(last_hour),
                      finished_24h=int(last_day), failed_24h=int(failed), p50_s=float(p50) if p50 is not None else None,
                      p95_s=float(p95) if p95 is not None else None)


# ---------------------------------------------------------------- the ledger as CSV

LEDGER_COLUMNS = ("id", "created_at", "settled_at", "user_id", "username", "job_id", "status", "amount_usd",
                  "engine", "model", "usage")


def _cell(value: object) -> str:
    """One CSV cell; text a spreadsheet would run as a formula starts with an apostrophe."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.6f}"
    text = value if isinstance(value, str) else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def ledger_csv(admin_id: int, *, batch: int = 1000) -> Iterator[str]:
    """The whole ledger, oldest first, as CSV text in pieces (for a streamed download). The administrator
    check happens here, before the first piece: a refused caller gets NotAdmin, not an empty file."""
    require_admin(admin_id)
    return _ledger_rows(batch)


def _ledger_rows(batch: int) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(LEDGER_COLUMNS)
    stmt = (select(UsageEntry, User.username).join(User, User.id == UsageEntry.owner_id, isouter=True)
            .order_by(UsageEntry.created_at, UsageEntry.id).execution_options(yield_per=batch))
    with session_scope() as s:
        for entry, username in s.exec(stmt):
            writer.writerow([_cell(v) for v in (
                entry.id, entry.created_at, entry.settled_at, entry.owner_id, username, entry.job_id, entry.status,
                float(entry.amount_usd), entry.engine, entry.model,
                json.dumps(entry.usage, sort_keys=True, separators=(",", ":")) if entry.usage else "")])
            if buffer.tell() > 64_000:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
    yield buffer.getvalue()


def ledger_filename() -> str:
    return f"imagechat-ledger-{utcnow():%Y-%m-%d}.csv"

