"""Who is signed in, and the watcher that ends a tab's signed-in view when its session ends.

Every per-user state derives from `SessionState`, so log-out or a different user in the same tab resets
all of them, including states added later, without a hand-kept list.

The session token lives only in the HttpOnly cookie set by api/auth.py. The state reads it from the
websocket's own request headers (`router.headers.cookie`, which Reflex never sends to the browser) and
keeps only its sha256, the user id, the expiry and when it was last checked, all backend-only vars.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import reflex as rx
from redis.exceptions import RedisError
from starlette.requests import cookie_parser

from imagechat.core import auth, notifications, urls
from imagechat.core.auth import SESSION_COOKIE
from imagechat.core.errors import ImagechatError
from imagechat.core.text import unmarked
from imagechat.models import utcnow
from imagechat.settings import get_settings
from imagechat.state import tabs

log = logging.getLogger(__name__)

REVALIDATE_S = 30.0  # the database is asked again after this long; revocations reach tabs through Redis sooner


def notice(job: notifications.Finished) -> dict:
    """What assets/notify.js gets about one finished job (user text without Reflex's Var markers)."""
    heading = {"succeeded": "Your image is ready", "failed": "An image could not be made",
               "cancelled": "An image was cancelled"}.get(job.status, "An image job ended")
    prompt = unmarked(job.prompt)
    return {"job": job.job_id, "heading": heading,
            "body": prompt if len(prompt) <= 120 else prompt[:119] + "\u2026",
            "url": urls.chat_url(job.conversation_id or None)}


def _descendants(cls: type[rx.State]) -> list[type[rx.State]]:
    found = []
    for sub in cls.get_substates():
        found += [sub, *_descendants(sub)]
    return found


class SessionState(rx.State):
    username: str = ""
    is_admin: bool = False  # only shows the Admin menu item: core.admin checks the database on every action
    _user_id: int = 0
    _token_hash: str = ""  # sha256 of the cookie that was checked; never the token itself
    _expires_at: float = 0.0
    _checked_at: float = 0.0

    async def _session(self) -> SessionState:
        return self if type(self) is SessionState else await self.get_state(SessionState)

    def _cookie_token(self) -> str:
        """The session cookie of this tab's websocket (Starlette's lenient parser, as the HTTP routes use)."""
        return cookie_parser(self.router.headers.cookie or "").get(SESSION_COOKIE, "")

    async def _signed_in_user_id(self) -> int:
        """The signed-in user's id, or 0. The database is asked when the cookie changed or after
        REVALIDATE_S; in between, one Redis lookup tells whether the session was revoked."""
        session = await self._session()
        token = session._cookie_token()
        hashed = auth.token_hash(token) if token else ""
        now = time.time()
        known = bool(hashed) and hashed == session._token_hash and bool(session._user_id) and now < session._expires_at
        revoked = None
        if known:
            try:
                revoked = await auth.is_revoked(hashed)
            except RedisError:
                revoked = None  # unknown: ask the database below
            if revoked is False and now - session._checked_at < REVALIDATE_S:
                return session._user_id
        try:
            info = await asyncio.to_thread(auth.session_for_hash, hashed) if hashed else None
        except ImagechatError:
            if known and revoked is False:
                return session._user_id  # the database is away for now; Redis says the session stands
            raise
        user_id = info.user_id if info else 0
        if session._user_id and user_id != session._user_id:
            await session._forget_user_data()  # another user (or nobody) in this tab now
        session._user_id, session.username = user_id, info.username if info else ""
        session.is_admin = bool(info and info.is_admin)
        session._token_hash = hashed if info else ""
        session._expires_at, session._checked_at = (info.expires_at, now) if info else (0.0, 0.0)
        return user_id

    async def _forget_user_data(self) -> None:
        """Reset every per-user state to its defaults (the session's own fields are set by the caller)."""
        session = await self._session()
        for cls in _descendants(SessionState):
            (await session.get_state(cls)).reset()

    async def _sign_out(self) -> None:
        """Forget the user in this tab (the session itself is ended by auth.log_out)."""
        session = await self._session()
        await session._forget_user_data()
        session._user_id, session.username, session._token_hash = 0, "", ""
        session.is_admin = False
        session._expires_at = session._checked_at = 0.0

    async def _job_notices(self, owner: int, cursor: notifications.Cursor) -> list:
        """Jobs of this user that ended since the last tick: the chat marks their conversations when another one
        (or another page) is in view, and assets/notify.js counts them in the title of a hidden tab and raises a
        browser notification when the user allowed it (the browser knows whether the tab is seen)."""
        from imagechat.state.chat import ChatState  # the chat's state derives from this one

        try:
            done = await notifications.news(owner, cursor)
        except Exception:  # noqa: BLE001 - the database away: the next tick asks again from the same moment
            log.warning("could not check for finished jobs", exc_info=True)
            return []
        if not done:
            return []
        async with self:
            chat = await self.get_state(ChatState)
            on_chat = self.router.page.path in ("/", "/index")
            for job in done:
                if job.conversation_id and (not on_chat or job.conversation_id != chat.current_id):
                    chat._mark_unread(job.conversation_id)
        items = [notice(job) for job in done]
        return [rx.call_script(f"window.__icNotify && window.__icNotify({json.dumps(items)})")]

    @rx.event(background=True)
    async def watch_session(self):
        """on_load of every private page: send this tab to the log-in page within SESSION_CHECK_S of its
        session ending (log-out in another tab, expiry, `users disable`), and forget the user's data.

        One watcher per tab (state/tabs.py): a start more than 0.25 s after the last takes over and the
        older one stops on its next tick. It also stops when the tab's
        websocket is gone from this process; Reflex itself cancels an on_load chain's tasks on disconnect
        and when the tab navigates to another page (whose on_load starts a new watcher).
        """
        client_token = self.router.session.client_token
        # A navigation restarts the on_load chain: the newest watcher takes over; a flood of calls does not.
        me = tabs.claim("session", client_token, takeover_after_s=0.25)
        if me is None:
            return
        async with self:
            user_id = await self._signed_in_user_id()
            if not user_id:
                tabs.release("session", client_token, me)
                return
            hashed, expires_at = self._token_hash, self._expires_at
        cursor = notifications.Cursor(since=utcnow())  # jobs that end from now on are told about
        interval = get_settings().session_check_s
        checked_at = time.monotonic()
        log.debug("session watcher %s started", me)
        why = "cancelled by Reflex (the tab navigated or disconnected)"
        try:
            while True:
                await asyncio.sleep(interval)
                if not tabs.holds("session", client_token, me):
                    why = "a newer watcher took over"
                    return
                if not tabs.tab_connected(client_token):
                    why = "the tab's websocket is gone"
                    return
                if time.time() < expires_at:
                    try:
                        ended = await auth.is_revoked(hashed)
                        if not ended and time.monotonic() - checked_at >= REVALIDATE_S:
                            checked_at = time.monotonic()
                            ended = await asyncio.to_thread(auth.session_for_hash, hashed) is None
                    except Exception:  # noqa: BLE001 - Redis or the database away: keep the tab, look again
                        log.warning("session check failed; trying again in %.0f s", interval, exc_info=True)
                        continue
                    if not ended:
                        for event in await self._job_notices(user_id, cursor):
                            yield event
                        continue
                async with self:
                    if not tabs.holds("session", client_token, me) or self._token_hash != hashed:
                        why = "signed out here already, or the tab holds another session"
                        return
                    await self._sign_out()
                why = "the session ended: the tab was sent to the log-in page"
                yield rx.redirect("/login?error=session_ended")
                return
        finally:
            log.debug("session watcher %s stopped: %s", me, why)
            tabs.release("session", client_token, me)
