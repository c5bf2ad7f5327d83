"""The usage page's state (what the signed-in user spent: budgets, engines and models, per day, recent jobs)
and the budget warning the chat shows above the composer (BudgetState).

Both only read the signed-in user's own figures (core.usage scopes every query to the owner) and take no
arguments, so no call can point them at anyone else.
"""

from __future__ import annotations

import asyncio
import dataclasses

import reflex as rx

from imagechat.core import usage
from imagechat.core.errors import ImagechatError
from imagechat.core.history import JobEntry
from imagechat.core.urls import chat_url
from imagechat.state.session import SessionState

LOAD_FAILED = "Your usage could not be loaded right now. Reload the page in a minute."


def money(usd: float) -> str:
    return f"${usd:,.2f}" if usd == 0 or usd >= 0.01 else f"${usd:.3f}"


@dataclasses.dataclass
class BudgetBar:
    label: str  # "Today", "This month"
    spent: str
    cap: str
    left: str
    percent: int  # 0..100, for the bar
    tone: str  # a Radix colour: green, amber (>= 80%), red (used up)
    resets: str


@dataclasses.dataclass
class ModelRow:
    engine: str
    model: str
    requests: int
    usd: str
    share: int  # percent of this month's spending, for the bar


@dataclasses.dataclass
class DayBar:
    label: str  # "3 Nov"
    usd: str
    height: int  # percent of the busiest day
    today: bool = False


@dataclasses.dataclass
class RecentJob:
    id: str
    prompt: str
    status: str
    cost: str
    created: str
    engine: str
    href: str  # its chat message, else the history


def tone(fraction: float) -> str:
    return "red" if fraction >= 1 else "amber" if fraction >= usage.WARN_AT else "green"


def budget_bars(status: usage.BudgetStatus) -> list[BudgetBar]:
    return [
        BudgetBar(label="Today", spent=money(status.spent_today), cap=money(status.daily_cap),
                  left=money(status.left_today), percent=round(status.day_fraction * 100),
                  tone=tone(status.day_fraction), resets="Resets at midnight UTC"),
        BudgetBar(label="This month", spent=money(status.spent_month), cap=money(status.monthly_cap),
                  left=money(status.left_month), percent=round(status.month_fraction * 100),
                  tone=tone(status.month_fraction), resets="Resets on the 1st (UTC)"),
    ]


def model_rows(rows: list[usage.ModelSpend]) -> list[ModelRow]:
    total = sum(r.usd for r in rows)
    return [ModelRow(engine=r.engine, model=r.model or "-", requests=r.requests, usd=money(r.usd),
                     share=round(r.usd / total * 100) if total > 0 else 0) for r in rows]


def day_bars(days: list[usage.DaySpend]) -> list[DayBar]:
    top = max((d.usd for d in days), default=0.0)
    return [DayBar(label=f"{d.day.day} {d.day:%b}", usd=money(d.usd),
                   height=round(d.usd / top * 100) if top > 0 else 0, today=i == len(days) - 1)
            for i, d in enumerate(days)]


def recent_job(entry: JobEntry) -> RecentJob:
    href = chat_url(entry.conversation_id, entry.message_id) if entry.conversation_id else "/history"
    return RecentJob(id=entry.id, prompt=entry.prompt, status=entry.status, cost=money(entry.cost_usd),
                     created=f"{entry.created_at:%Y-%m-%d %H:%M}", engine=entry.engine
                     + (f" · {entry.model}" if entry.model else ""), href=href)


class UsageState(SessionState):
    budgets: list[BudgetBar] = []
    by_model: list[ModelRow] = []
    days: list[DayBar] = []
    recent: list[RecentJob] = []
    month_total: str = "$0.00"
    days_total: str = "$0.00"
    saved: str = "$0.00"  # this month, by answers from the library
    saved_total: str = "$0.00"
    cached_answers: int = 0
    warning: str = ""
    loaded: bool = False
    load_error: str = ""

    @rx.event
    async def load(self):
        owner = await self._signed_in_user_id()
        if not owner:
            return rx.redirect("/login")
        try:
            found = await asyncio.to_thread(usage.summary, owner)
        except ImagechatError:
            self.loaded, self.load_error = True, LOAD_FAILED
            return None
        self.budgets = budget_bars(found.budget)
        self.by_model = model_rows(found.by_model)
        self.days = day_bars(found.daily)
        self.recent = [recent_job(e) for e in found.recent]
        self.month_total = money(sum(r.usd for r in found.by_model))
        self.days_total = money(sum(d.usd for d in found.daily))
        self.saved, self.saved_total = money(found.saved_month_usd), money(found.saved_total_usd)
        self.cached_answers = found.cached_answers
        self.warning = found.budget.warning
        self.loaded, self.load_error = True, ""
        return None


class BudgetState(SessionState):
    """The chat's budget warning (at usage.WARN_AT of the daily or monthly budget): loaded with the chat page
    and again after each finished image (ChatState.watch_jobs)."""

    warning: str = ""

    @rx.event
    async def refresh(self):
        owner = await self._signed_in_user_id()
        if not owner:
            self.warning = ""
            return
        try:
            self.warning = (await asyncio.to_thread(usage.budget_status, owner)).warning
        except ImagechatError:
            pass  # keep what was shown; the next finished image asks again
