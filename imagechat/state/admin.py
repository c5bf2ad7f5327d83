"""The admin page's state: spending against the global cap, users with their own limits, disabling users and
the queue's health.

Every public method is an endpoint any websocket client can call with any arguments: each one asks the
database whether the signed-in user is an administrator (core.admin checks again on every action) and checks
its arguments. Which user a dialog acts on stays on the server (`_edit_id`, `_confirm_id`): the browser only
sees names. Non-administrators see the same "no such page" as for a page that does not exist.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime

import reflex as rx

from imagechat.core import admin, lifecycle
from imagechat.core.admin import Operations, UserSpend
from imagechat.core.errors import ImagechatError
from imagechat.core.text import unmarked
from imagechat.settings import get_settings
from imagechat.state.session import SessionState
from imagechat.state.usage import money, tone
from imagechat.state.views import as_id, as_text

LOAD_FAILED = "The admin figures could not be loaded right now. Reload the page in a minute."
NOT_SHOWN = "That user is not in the list any more. Reload the page and try again."


@dataclasses.dataclass
class AdminUserRow:
    id: int
    username: str
    is_admin: bool
    disabled: bool
    today: str
    month: str
    jobs: int
    daily: str  # the cap that applies
    monthly: str
    rate: str
    own_daily: bool  # set for this user (else the default)
    own_monthly: bool
    own_rate: bool
    month_percent: int
    tone: str
    is_me: bool = False  # the administrator looking: no Disable button


@dataclasses.dataclass
class OpsFact:
    label: str
    value: str
    hint: str
    tone: str = "gray"  # a Radix colour for the value's badge


def user_row(u: UserSpend, me: int = 0) -> AdminUserRow:
    fraction = u.spent_month / u.caps.monthly_usd if u.caps.monthly_usd > 0 else (1.0 if u.spent_month else 0.0)
    return AdminUserRow(
        id=u.id, username=u.username, is_admin=u.is_admin, disabled=u.disabled, today=money(u.spent_today),
        month=money(u.spent_month), jobs=u.jobs_month, daily=money(u.caps.daily_usd),
        monthly=money(u.caps.monthly_usd), rate=u.caps.rate_limit, own_daily=u.caps.own_daily,
        own_monthly=u.caps.own_monthly, own_rate=u.caps.own_rate, month_percent=round(min(1.0, fraction) * 100),
        tone=tone(fraction), is_me=u.id == me)


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.1f} s"
    if value < 3600:
        return f"{int(value // 60)} min {int(value % 60)} s"
    return f"{int(value // 3600)} h {int(value % 3600 // 60)} min"


def ops_facts(ops: Operations) -> list[OpsFact]:
    workers = "unknown" if ops.workers_alive is None else str(ops.workers_alive)
    rate = ops.failure_rate
    return [
        OpsFact("Queue", str(ops.queued), f"{ops.held} waiting for their owner's other jobs; {ops.running} running",
                "amber" if ops.queued and not ops.workers_alive else "gray"),
        OpsFact("Oldest queued", _seconds(ops.oldest_queued_s), "how long the oldest queued job has waited",
                "amber" if (ops.oldest_queued_s or 0) > 120 else "gray"),
        OpsFact("Workers alive", workers, "worker processes that reported in the last few seconds",
                "red" if not ops.workers_alive else "green"),
        OpsFact("Jobs per minute", f"{ops.jobs_per_minute:.2f}", f"{ops.finished_last_hour} finished in the last hour"),
        OpsFact("Failure rate", "-" if rate is None else f"{rate * 100:.1f}%",
                f"{ops.failed_24h} of {ops.finished_24h} finished jobs failed in the last 24 h",
                "red" if (rate or 0) >= 0.2 else "amber" if (rate or 0) >= 0.05 else "gray"),
        OpsFact("Generation time p50", _seconds(ops.p50_s), "started to finished, jobs that succeeded in 24 h"),
        OpsFact("Generation time p95", _seconds(ops.p95_s), "started to finished, jobs that succeeded in 24 h"),
    ]


class AdminState(SessionState):
    allowed: bool = False  # the page's content is drawn only for an administrator
    loaded: bool = False
    load_error: str = ""
    global_spent: str = "$0.00"
    global_cap: str = "$0.00"
    global_left: str = "$0.00"
    global_percent: int = 0
    global_tone: str = "green"
    users: list[AdminUserRow] = []
    total_users: int = 0
    search: str = ""
    ops: list[OpsFact] = []
    defaults: str = ""  # the server-wide limits, as the edit dialog's hint
    shutdowns: list[str] = []  # configured OpenAI models shut down (or shutting down soon): what to change

    # The limits dialog
    edit_open: bool = False
    edit_username: str = ""
    edit_daily: str = ""
    edit_monthly: str = ""
    edit_rate: str = ""
    edit_error: str = ""
    _edit_id: int = 0

    # The disable confirmation
    confirm_username: str = ""
    _confirm_id: int = 0

    async def _admin(self) -> int:
        """The signed-in administrator's id, or 0 (nobody signed in, or not an administrator now)."""
        user = await self._signed_in_user_id()
        return user if user and await asyncio.to_thread(admin.is_admin, user) else 0

    def _refused(self):
        """What a caller who is not an administrator gets: nothing drawn, sent away like from an unknown page."""
        self.allowed, self.users, self.ops, self.edit_open, self._edit_id = False, [], [], False, 0
        self.confirm_username, self._confirm_id = "", 0
        return rx.redirect("/login") if not self.username else None

    def _row(self, user_id: object) -> AdminUserRow | None:
        user_id = as_id(user_id)
        return next((u for u in self.users if u.id == user_id), None) if user_id else None

    async def _refresh(self, me: int) -> None:
        spending, ops = await asyncio.gather(asyncio.to_thread(admin.spending, me, self.search),
                                             asyncio.to_thread(admin.operations, me))
        self.global_spent, self.global_cap = money(spending.global_month), money(spending.global_cap)
        self.global_left = money(max(0.0, spending.global_cap - spending.global_month))
        fraction = spending.global_month / spending.global_cap if spending.global_cap > 0 else 0.0
        self.global_percent, self.global_tone = round(min(1.0, fraction) * 100), tone(fraction)
        self.users, self.total_users = [user_row(u, me) for u in spending.users], spending.total_users
        self.ops = ops_facts(ops)
        # Never waits on the network: /v1/models is read in the background and cached (core/lifecycle.py).
        self.shutdowns = [w.message for w in lifecycle.upcoming_shutdowns(datetime.now(UTC).date())]
        settings = get_settings()
        self.defaults = (f"Defaults: {money(settings.user_daily_budget_usd)} a day, "
                         f"{money(settings.user_monthly_budget_usd)} a month, {settings.rate_limit}.")
        self.allowed, self.loaded, self.load_error = True, True, ""

    async def _reload(self, me: int) -> None:
        try:
            await self._refresh(me)
        except ImagechatError:
            self.loaded, self.load_error = True, LOAD_FAILED

    @rx.event
    async def load(self):
        me = await self._admin()
        self.loaded = True
        if not me:
            return self._refused()
        self.edit_open, self._edit_id, self.confirm_username, self._confirm_id = False, 0, "", 0
        await self._reload(me)
        return None

    @rx.event
    async def refresh(self):
        me = await self._admin()
        if not me:
            return self._refused()
        await self._reload(me)
        return None

    @rx.event
    async def set_search(self, value: str):
        value = as_text(value, admin.SEARCH_CHARS)
        if value is None:
            return rx.toast.error(f"Search for at most {admin.SEARCH_CHARS} characters.")
        me = await self._admin()
        if not me:
            return self._refused()
        self.search = value
        await self._reload(me)
        return None

    # ------------------------------------------------------------ limits

    @rx.event
    async def edit_limits(self, user_id: int):
        row = self._row(user_id)
        me = await self._admin()
        if not me:
            return self._refused()
        if row is None:
            return rx.toast.error(NOT_SHOWN)
        self._edit_id, self.edit_username, self.edit_error = row.id, row.username, ""
        self.edit_daily = row.daily.removeprefix("$") if row.own_daily else ""
        self.edit_monthly = row.monthly.removeprefix("$") if row.own_monthly else ""
        self.edit_rate = row.rate if row.own_rate else ""
        self.edit_open = True
        return None

    @rx.event
    def set_edit_open(self, value: bool):
        if value is not True:
            self.edit_open, self._edit_id, self.edit_error = False, 0, ""

    @rx.event
    async def save_limits(self, form: dict):
        me = await self._admin()
        if not me:
            return self._refused()
        if not self._edit_id or not isinstance(form, dict):
            self.edit_open, self._edit_id = False, 0
            return rx.toast.error(NOT_SHOWN)
        try:
            daily = admin.parse_budget(form.get("daily", ""))
            monthly = admin.parse_budget(form.get("monthly", ""))
            rate = admin.parse_rate(form.get("rate", ""))
            await asyncio.to_thread(admin.set_limits, me, self._edit_id, daily_usd=daily, monthly_usd=monthly,
                                    rate_limit=rate)
        except ImagechatError as exc:
            self.edit_error = exc.user_message
            return None
        name = self.edit_username
        self.edit_open, self._edit_id, self.edit_error = False, 0, ""
        await self._reload(me)
        return rx.toast.success(unmarked(f"Saved the limits of {name}."))

    # ------------------------------------------------------------ disable and enable

    @rx.event
    async def ask_disable(self, user_id: int):
        row = self._row(user_id)
        me = await self._admin()
        if not me:
            return self._refused()
        if row is None or row.disabled:
            return rx.toast.error(NOT_SHOWN)
        self._confirm_id, self.confirm_username = row.id, row.username
        return None

    @rx.event
    def set_confirm_open(self, value: bool):
        if value is not True:
            self._confirm_id, self.confirm_username = 0, ""

    @rx.event
    async def disable(self):
        """Disable the user the confirmation names: every session of theirs ends at once."""
        me = await self._admin()
        if not me:
            return self._refused()
        target, self._confirm_id, self.confirm_username = self._confirm_id, 0, ""
        if not target:
            return rx.toast.error(NOT_SHOWN)
        return await self._set_disabled(me, target, True)

    @rx.event
    async def enable(self, user_id: int):
        row = self._row(user_id)
        me = await self._admin()
        if not me:
            return self._refused()
        if row is None or not row.disabled:
            return rx.toast.error(NOT_SHOWN)
        return await self._set_disabled(me, row.id, False)

    async def _set_disabled(self, me: int, target: int, disabled: bool):
        try:
            name = await asyncio.to_thread(admin.set_disabled, me, target, disabled)
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        await self._reload(me)
        return rx.toast.success(unmarked(f"Disabled {name}: their sessions ended." if disabled
                                         else f"Enabled {name}: they can log in again."))
