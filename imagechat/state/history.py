"""The history page's state: the user's generation jobs, a page at a time, with search, a status
filter (both in the URL), Retry, Cancel and live status of running jobs.

Every public method is an endpoint any websocket client can call with any arguments: each checks the
session and its arguments, and the domain (core.history, core.jobs) scopes every query to the owner.
The paging cursor stays on the server (a backend-only var); the browser only asks for "more".
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from urllib.parse import urlencode

import reflex as rx

from imagechat.core import history, jobs, progress
from imagechat.core.errors import ImagechatError
from imagechat.core.history import HistoryQuery, JobEntry
from imagechat.core.text import clean_text
from imagechat.core.urls import chat_url
from imagechat.models import ACTIVE, JobStatus
from imagechat.state import tabs
from imagechat.state.session import SessionState
from imagechat.state.views import as_text, as_uuid

log = logging.getLogger(__name__)

ROUTE = "/history"
ALL = "all"  # the select's value for "any status" (a Radix select item cannot have an empty value)
WATCH_POLL_S = 1.0
WATCH_MAX_FAILURES = 20
CANCELLED_REASON = "Cancelled before it finished."
FAILED_REASON = "It failed without a recorded reason. Retry it, or ask again in the chat."
LOAD_FAILED = "The history could not be loaded right now. Reload the page in a minute."


@dataclasses.dataclass
class HistoryRow:
    """One job as the page draws it: display text and ids only."""

    id: str
    prompt: str
    status: str
    stage: str = ""
    percent: int = 0
    reason: str = ""  # why it failed or that it was cancelled
    engine: str = ""
    model: str = ""
    kind: str = ""
    size: str = ""
    style: str = ""
    n: int = 1
    cost: str = ""
    created: str = ""
    duration: str = ""
    attempts: int = 0
    chat_href: str = ""  # "" when its conversation is gone
    image_ids: list[str] = dataclasses.field(default_factory=list)
    retryable: bool = False
    active: bool = False


def _money(usd: float) -> str:
    return f"${usd:.3f}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest} s"


def history_row(entry: JobEntry) -> HistoryRow:
    if entry.status == JobStatus.FAILED:
        reason = entry.error or FAILED_REASON
    elif entry.status == JobStatus.CANCELLED:
        reason = CANCELLED_REASON
    else:
        reason = ""
    if entry.cost_usd or entry.reserved_usd:
        cost = f"{_money(entry.cost_usd)} (reserved {_money(entry.reserved_usd)})"
    else:
        cost = "no cost"
    return HistoryRow(
        id=entry.id, prompt=entry.prompt, status=entry.status, stage=entry.stage, percent=int(entry.percent),
        reason=reason, engine=entry.engine, model=entry.model, kind=entry.kind,
        size=f"{entry.width}x{entry.height}" if entry.width and entry.height else "", style=entry.style,
        n=entry.n, cost=cost, created=f"{entry.created_at:%Y-%m-%d %H:%M}", duration=_duration(entry.duration_s),
        attempts=entry.attempts,
        chat_href=chat_url(entry.conversation_id, entry.message_id) if entry.conversation_id else "",
        image_ids=list(entry.image_ids), retryable=entry.retryable, active=entry.status in ACTIVE)


def history_url(query: HistoryQuery) -> str:
    """The page's URL for a query. urlencode escapes everything but letters, digits and `_.-~`, so
    no user text reaches rx.redirect unescaped (Reflex parses that string for Var markers)."""
    params = history.query_params(query)
    return f"{ROUTE}?{urlencode(params)}" if params else ROUTE


class HistoryState(SessionState):
    rows: list[HistoryRow] = []
    text: str = ""  # the search box as typed
    status: str = ALL
    total: int = 0
    has_more: bool = False
    loading: bool = False
    loaded: bool = False
    _query: HistoryQuery = HistoryQuery()
    _cursor: str | None = None

    async def _first_page(self, owner: int) -> None:
        page, total = await asyncio.to_thread(self._fetch_first, owner, self._query)
        self.rows = [history_row(e) for e in page.entries]
        self.total, self._cursor, self.has_more = total, page.next_cursor, page.next_cursor is not None

    @staticmethod
    def _fetch_first(owner: int, query: HistoryQuery) -> tuple[history.Page, int]:
        return history.page(owner, query), history.count(owner, query)

    def _follow(self) -> list:
        return [HistoryState.watch_jobs] if any(r.active for r in self.rows) else []

    # ------------------------------------------------------------ page load, search and filter

    @rx.event
    async def load(self):
        owner = await self._signed_in_user_id()
        if not owner:
            return rx.redirect("/login")
        self._query = history.parse_query(self.router.url.query_parameters)
        # The box keeps what was typed (a trailing space between two words) while it means the same query.
        if clean_text(self.text) != self._query.text:
            self.text = self._query.text
        self.status = self._query.status or ALL
        self.loading = True
        try:
            await self._first_page(owner)
        except ImagechatError:
            self.rows, self.total, self.has_more, self._cursor = [], 0, False, None
            return rx.toast.error(LOAD_FAILED)
        finally:
            self.loading, self.loaded = False, True
        return self._follow()

    @rx.event
    async def set_search(self, value: str):
        """The search box changed (debounced): the query goes into the URL, whose load fetches it."""
        value = as_text(value, history.QUERY_CHARS)
        if value is None:
            return rx.toast.error(f"Search for at most {history.QUERY_CHARS} characters.")
        if not await self._signed_in_user_id():
            return rx.redirect("/login")
        self.text = value
        query = dataclasses.replace(self._query, text=clean_text(value))
        if query != self._query:
            return rx.redirect(history_url(query), replace=True)

    @rx.event
    async def set_status(self, value: str):
        if not isinstance(value, str) or (value != ALL and value not in history.STATUSES):
            return
        if not await self._signed_in_user_id():
            return rx.redirect("/login")
        query = dataclasses.replace(self._query, status="" if value == ALL else value)
        if query != self._query:
            self.status = value
            return rx.redirect(history_url(query))

    @rx.event
    async def load_more(self):
        owner = await self._signed_in_user_id()
        if not owner:
            return rx.redirect("/login")
        if self._cursor is None or self.loading:
            return
        self.loading = True
        try:
            page = await asyncio.to_thread(history.page, owner, self._query, cursor=self._cursor)
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        finally:
            self.loading = False
        known = {r.id for r in self.rows}
        self.rows += [history_row(e) for e in page.entries if e.id not in known]
        self._cursor, self.has_more = page.next_cursor, page.next_cursor is not None
        return self._follow()

    # ------------------------------------------------------------ actions

    @rx.event
    async def retry(self, job_id: str):
        owner, job_id = await self._signed_in_user_id(), as_uuid(job_id)
        if not owner:
            return rx.redirect("/login")
        if not job_id:
            return rx.toast.error("That is not a job of yours. Reload the page and try again.")
        try:
            new_id = await asyncio.to_thread(history.retry, owner, uuid.UUID(job_id))
            await self._first_page(owner)
            if not any(r.id == str(new_id) for r in self.rows):  # filtered out: shown on top all the same
                self.rows = [history_row(e) for e in await asyncio.to_thread(history.entries, owner, [new_id])
                             ] + self.rows
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        return [rx.toast.success("Started again as a new job: it is at the top of the list."), *self._follow()]

    @rx.event
    async def cancel(self, job_id: str):
        owner, job_id = await self._signed_in_user_id(), as_uuid(job_id)
        if not owner:
            return rx.redirect("/login")
        if not job_id:
            return rx.toast.error("That is not a job of yours. Reload the page and try again.")
        try:
            stopped = await asyncio.to_thread(jobs.cancel, owner, uuid.UUID(job_id))
            await self._refresh(owner, [job_id])
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        if not stopped:
            return rx.toast.info("That job had already finished.")
        return rx.toast.success("Cancelled. Retry it whenever you like.")

    async def _refresh(self, owner: int, job_ids: list[str]) -> None:
        """Reload these rows from the database (status, images, cost, duration). Call under the state lock."""
        fresh = {e.id: history_row(e) for e in
                 await asyncio.to_thread(history.entries, owner, [uuid.UUID(j) for j in job_ids])}
        self.rows = [fresh.get(r.id, r) for r in self.rows]

    # ------------------------------------------------------------ live status

    @rx.event(background=True)
    async def watch_jobs(self):
        """Follows the running and queued jobs shown in the tab (loaded for its owner, so no argument can
        point it at anyone else's) through the progress bus; a job that ends is reloaded from the database.
        One per tab: a newer call (a navigation restarts the page's events) takes over, a flood does not."""
        client_token = self.router.session.client_token
        me = tabs.claim("history", client_token, takeover_after_s=0.25)
        if me is None:
            return
        try:
            async with self:
                owner = await self._signed_in_user_id()
                idle = not any(r.active for r in self.rows)
            if not owner or idle:  # nobody signed in, or nothing to follow: no subscription at all
                tabs.release("history", client_token, me, rest_s=0.0 if owner else 1.0)
                return
            watched: set[str] = set()
            failures = 0
            async with progress.Subscriber() as sub:
                while failures < WATCH_MAX_FAILURES:
                    try:
                        async with self:
                            wanted = {r.id for r in self.rows if r.active}
                            done = not wanted or not tabs.holds("history", client_token, me) \
                                or not tabs.tab_connected(client_token)
                            if done:  # released under the lock: a job shown after this starts a new watcher
                                tabs.release("history", client_token, me)
                        if done:
                            return
                        await sub.remove(*(watched - wanted))
                        await sub.add(*(wanted - watched))
                        watched = wanted
                        events = await sub.newest(timeout=WATCH_POLL_S)
                        if not events:
                            continue
                        ended = [e.job_id for e in events if e.terminal]
                        async with self:
                            by_id = {e.job_id: e for e in events}
                            for row in self.rows:
                                if (event := by_id.get(row.id)) is not None and row.active:
                                    row.status, row.percent, row.stage = event.status, int(event.percent), event.stage
                                    row.active = event.status in ACTIVE
                            if ended:
                                await self._refresh(owner, ended)
                        await sub.delivered(events)  # the fan-out latency on /metrics
                        failures = 0
                    except Exception:  # a lock timeout under load, Redis away for a moment: try again
                        failures += 1
                        log.warning("history watcher: step failed (%d in a row)", failures, exc_info=True)
                        await asyncio.sleep(0.5)
        finally:
            tabs.release("history", client_token, me)
