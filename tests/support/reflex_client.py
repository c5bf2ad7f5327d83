"""A small websocket client for a running Reflex 0.10.1 app, and the list of its event handlers.

It speaks what the compiled frontend speaks (`.web/utils/state.js`, `reflex/app.py` `EventNamespace`):

- Engine.IO v4 over one websocket at `/_event/?EIO=4&transport=websocket&token=<client token>` (websocket is
  the only transport; the upgrade request's headers, cookies included, become `router_data["headers"]`,
  i.e. `self.router.headers`, for every event of the connection).
- Socket.IO v5 namespace `/_event`. The CONNECT packet's auth may carry the boot event
  (`{"event": hydrate_and_load}`), as the frontend does; the backend then processes it before anything else.
- Events are sent as `42/_event,["event", {"name": ..., "payload": {...}, "router_data": {...}}]`; only
  those three keys are read. The client token is the `token` query parameter: one connection, one tab.
- State changes come back as `42/_event,["event", {"delta": {state: {var_rx_state_: value}}, "events": [...]}]`;
  there is no "final" marker (deprecated since 0.9), so a caller decides when a call has settled.

The websocket itself is wsproto (sans-IO, installed with Reflex through python-engineio and simple-websocket)
over asyncio streams: python-socketio's async client needs aiohttp, which is not installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import functools
import inspect
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

EVENT_PATH = "/_event"  # reflex_base/constants/event.py Endpoint.EVENT: the Socket.IO path and namespace
HYDRATE_AND_LOAD = "reflex___state____state.hydrate_and_load"
IS_HYDRATED = "is_hydrated_rx_state_"
ROOT_STATE = "reflex___state____state"
FIELD_MARKER = "_rx_state_"


class ReflexClientError(RuntimeError):
    """The server refused the connection or closed it."""


@dataclasses.dataclass
class Received:
    """One Socket.IO event from the server."""

    at: float  # time.monotonic() when it arrived
    event: str  # "event" (state update), "new_token", "state_mismatch", ...
    data: Any
    text: str  # the packet's JSON text, for searching

    @property
    def delta(self) -> dict:
        return (self.data or {}).get("delta") or {} if isinstance(self.data, dict) else {}

    @property
    def events(self) -> list:
        return (self.data or {}).get("events") or [] if isinstance(self.data, dict) else []


@dataclasses.dataclass
class Collected:
    messages: list[Received]
    until_met: bool  # the `until` predicate matched (True when none was given)
    timed_out: bool  # max_wait ran out while the stream was still busy or `until` unmet

    @property
    def last_at(self) -> float | None:
        return self.messages[-1].at if self.messages else None

    @property
    def text(self) -> str:
        return "\n".join(m.text for m in self.messages)


def router_data(path: str = "/", query: Mapping[str, str] | None = None) -> dict:
    """What the frontend's `withRouterData` attaches to an event sent from `path`."""
    data: dict[str, Any] = {"pathname": path, "asPath": path + (f"?{urlencode(query)}" if query else "")}
    if query:
        data["query"] = dict(query)
    return data


def _parse_socketio(packet: str) -> tuple[int, str, Any]:
    """(type, namespace, data) of a Socket.IO v5 text packet (the Engine.IO "4" already stripped)."""
    kind, i = int(packet[0]), 1
    if kind in (5, 6):  # binary event/ack: "<n>-" attachments follow; not used by Reflex
        i = packet.index("-", i) + 1
    namespace = "/"
    if packet.startswith("/", i):
        end = packet.find(",", i)
        namespace, i = (packet[i:], len(packet)) if end == -1 else (packet[i:end], end + 1)
    while i < len(packet) and packet[i].isdigit():  # ack id
        i += 1
    return kind, namespace, json.loads(packet[i:]) if i < len(packet) else None


class ReflexClient:
    """One browser tab: a websocket with its own client token and, optionally, a signed-in user's cookies.

        async with ReflexClient(base, cookies={"imagechat_session": token}) as tab:
            await tab.hydrate("/", storage_vars=...)
            sent = await tab.send("reflex___state____state.<...>.handler", {"arg": 1})
            got = await tab.collect(quiet=0.25, max_wait=3)
    """

    def __init__(self, base_url: str, *, token: str | None = None, cookies: Mapping[str, str] | None = None,
                 headers: Mapping[str, str] | None = None, event_path: str = EVENT_PATH,
                 subprotocol: str | None = None):
        url = urlsplit(base_url)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or (443 if url.scheme == "https" else 80)
        self.origin = f"{url.scheme}://{url.netloc}"
        self.secure = url.scheme == "https"
        self.token = token or str(uuid.uuid4())
        self.cookies = dict(cookies or {})
        self.headers = dict(headers or {})
        self.event_path = event_path
        self.subprotocol = subprotocol
        self.sid: str | None = None
        self.received: asyncio.Queue[Received] = asyncio.Queue()
        self.closed = asyncio.Event()
        self.close_reason: str = ""
        self._ws: WSConnection | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task | None = None
        self._connected = asyncio.get_running_loop().create_future()
        self._text_parts: list[str] = []
        self.hydrated: Collected | None = None  # what the page load sent (set by open_tab)

    # ------------------------------------------------------------ connection

    async def __aenter__(self) -> ReflexClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def connect(self, boot_event: Mapping | None = None, timeout: float = 10.0) -> None:
        """Open the websocket and the `/_event` namespace. `boot_event` rides in the CONNECT packet."""
        query = urlencode({"EIO": "4", "transport": "websocket", "token": self.token})
        target = f"{self.event_path.rstrip('/')}/?{query}"
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port, ssl=self.secure or None), timeout)
        self._ws = WSConnection(ConnectionType.CLIENT)
        extra = [("origin", self.origin), ("user-agent", "imagechat-tests/reflex_client")]
        extra += list(self.headers.items())
        if self.cookies:
            extra.append(("cookie", "; ".join(f"{k}={quote(v, safe='')}" for k, v in self.cookies.items())))
        self._write(self._ws.send(Request(host=f"{self.host}:{self.port}", target=target, extra_headers=extra,
                                          subprotocols=[self.subprotocol] if self.subprotocol else [])))
        self._task = asyncio.create_task(self._read_loop(boot_event), name=f"reflex-client-{self.token}")
        try:
            await asyncio.wait_for(asyncio.shield(self._connected), timeout)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._ws is not None and self._writer is not None and not self.closed.is_set():
            with contextlib.suppress(Exception):
                self._send_text(f"41{self.event_path},")
                self._write(self._ws.send(CloseConnection(code=1000)))
                await self._writer.drain()
        self.closed.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()

    def _write(self, data: bytes) -> None:
        if data and self._writer is not None:
            self._writer.write(data)

    def _send_text(self, text: str) -> None:
        if self._ws is None:
            raise ReflexClientError("not connected")
        self._write(self._ws.send(TextMessage(data=text)))

    def _fail(self, why: str) -> None:
        self.close_reason = self.close_reason or why
        if not self._connected.done():
            self._connected.set_exception(ReflexClientError(why))
        self.closed.set()

    async def _read_loop(self, boot_event: Mapping | None) -> None:
        assert self._reader is not None and self._ws is not None
        try:
            while not self.closed.is_set():
                data = await self._reader.read(65536)
                if not data:
                    self._fail("the server closed the connection")
                    return
                self._ws.receive_data(data)
                for ev in self._ws.events():
                    if isinstance(ev, AcceptConnection):
                        continue
                    if isinstance(ev, (RejectConnection, RejectData)):
                        self._fail(f"websocket upgrade refused: {getattr(ev, 'status_code', '')}")
                        return
                    if isinstance(ev, Ping):
                        self._write(self._ws.send(ev.response()))
                    elif isinstance(ev, CloseConnection):
                        with contextlib.suppress(Exception):
                            self._write(self._ws.send(ev.response()))
                        self._fail(f"websocket closed by the server: {ev.code} {ev.reason or ''}".strip())
                        return
                    elif isinstance(ev, TextMessage):
                        self._text_parts.append(ev.data)
                        if ev.message_finished:
                            text, self._text_parts = "".join(self._text_parts), []
                            self._on_engineio(text, boot_event)
                with contextlib.suppress(ConnectionError):
                    await self._writer.drain()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported to whoever waits on the client
            self._fail(f"{type(exc).__name__}: {exc}")

    def _on_engineio(self, text: str, boot_event: Mapping | None) -> None:
        kind, body = text[:1], text[1:]
        if kind == "0":  # OPEN: join the namespace, with the boot event like the frontend's bootAuth
            auth = {"event": dict(boot_event)} if boot_event else {}
            self._send_text(f"40{self.event_path},{json.dumps(auth)}")
        elif kind == "2":  # server PING
            self._send_text("3" + body)
        elif kind == "1":
            self._fail("Engine.IO CLOSE from the server")
        elif kind == "4":
            self._on_socketio(body)

    def _on_socketio(self, packet: str) -> None:
        now = time.monotonic()
        kind, namespace, data = _parse_socketio(packet)
        if namespace != self.event_path:
            return
        if kind == 0:  # CONNECT ack
            self.sid = (data or {}).get("sid")
            if not self._connected.done():
                self._connected.set_result(self.sid)
        elif kind == 4:  # CONNECT_ERROR
            self._fail(f"namespace connect refused: {data}")
        elif kind == 1:  # DISCONNECT
            self._fail("disconnected from the namespace by the server")
        elif kind == 2 and isinstance(data, list) and data:
            payload = data[1] if len(data) > 1 else None
            self.received.put_nowait(Received(at=now, event=str(data[0]), data=payload,
                                              text=json.dumps(payload)))

    # ------------------------------------------------------------ events

    async def emit(self, event: str, data: Any) -> float:
        """Send a Socket.IO event; returns time.monotonic() at the send."""
        if self.closed.is_set():
            raise ReflexClientError(self.close_reason or "closed")
        self._send_text(f"42{self.event_path},{json.dumps([event, data])}")
        assert self._writer is not None
        await self._writer.drain()
        return time.monotonic()

    async def send(self, handler: str, payload: Any = None, *, path: str = "/",
                   router: Mapping | None = None) -> float:
        """Call an event handler by its full name (`reflex___state____state.<substate...>.<method>`)."""
        return await self.emit("event", {"name": handler, "payload": {} if payload is None else payload,
                                         "router_data": dict(router) if router is not None else router_data(path)})

    async def collect(self, *, quiet: float = 0.25, max_wait: float = 3.0,
                      until: Callable[[Received], bool] | None = None) -> Collected:
        """Everything that arrives until `until` matched (if given) and the stream has been quiet for `quiet`
        seconds, or until `max_wait` seconds have passed since this call."""
        messages: list[Received] = []
        met = until is None
        deadline = time.monotonic() + max_wait
        quiet_until = time.monotonic() + quiet
        while True:
            now = time.monotonic()
            if met and now >= quiet_until:
                return Collected(messages, met, timed_out=False)
            if now >= deadline:
                return Collected(messages, met, timed_out=True)
            wait = min(deadline, quiet_until if met else deadline) - now
            try:
                msg = await asyncio.wait_for(self.received.get(), max(wait, 0.001))
            except TimeoutError:
                if self.closed.is_set() and self.received.empty():
                    return Collected(messages, met, timed_out=not met)
                continue
            messages.append(msg)
            quiet_until = msg.at + quiet
            if not met and until is not None and until(msg):
                met = True

    async def hydrate(self, path: str = "/", storage_vars: Mapping[str, Any] | None = None,
                      timeout: float = 15.0, quiet: float = 0.1) -> Collected:
        """What a page load does after connecting: `hydrate_and_load` with the browser's cookie values, then
        the page's on_load chain, until the root state says it is hydrated."""
        payload: dict[str, Any] = {}
        if storage_vars:
            payload["vars"] = dict(storage_vars)
        await self.send(HYDRATE_AND_LOAD, payload, path=path)
        got = await self.collect(quiet=quiet, max_wait=timeout, until=is_hydrated)
        if not got.until_met:
            raise ReflexClientError(f"{path} did not hydrate within {timeout:g} s ({self.close_reason or 'open'})")
        return got


def is_hydrated(msg: Received) -> bool:
    return msg.delta.get(ROOT_STATE, {}).get(IS_HYDRATED) is True


async def open_tab(base_url: str, *, path: str = "/", cookies: Mapping[str, str] | None = None,
                   storage_vars: Mapping[str, Any] | None = None, timeout: float = 15.0) -> ReflexClient:
    """A connected and hydrated tab, like a browser that opened `path`: the boot event carries the cookie
    values the frontend would read with JavaScript (`storage_vars`), the upgrade request carries `cookies`."""
    tab = ReflexClient(base_url, cookies=cookies)
    payload = {"vars": dict(storage_vars)} if storage_vars else {}
    boot = {"name": HYDRATE_AND_LOAD, "payload": payload, "router_data": router_data(path)}
    await tab.connect(boot_event=boot, timeout=timeout)
    got = await tab.collect(quiet=0.1, max_wait=timeout, until=is_hydrated)
    if not got.until_met:
        await tab.close()
        raise ReflexClientError(f"{path} did not hydrate within {timeout:g} s ({tab.close_reason or 'open'})")
    tab.hydrated = got
    return tab


# ---------------------------------------------------------------- introspection


@dataclasses.dataclass(frozen=True)
class HandlerInfo:
    """One public event handler: what a client can call."""

    name: str  # the full event name the frontend sends
    state: type
    method: str
    params: tuple[str, ...]  # without self
    signature: str
    background: bool
    module: str  # where the function is defined: "imagechat..." for ours, "reflex..." for Reflex's own
    fn: Callable = dataclasses.field(compare=False, repr=False)

    @property
    def ours(self) -> bool:
        return self.module.split(".")[0] == "imagechat"

    @property
    def short(self) -> str:
        return f"{self.state.__name__}.{self.method}"


def _walk_states(cls: type) -> list[type]:
    found = [cls]
    for sub in sorted(cls.get_substates(), key=lambda c: c.get_full_name()):
        found += _walk_states(sub)
    return found


def state_classes(app_module: str = "imagechat.imagechat") -> list[type]:
    """Every state class of the app, root first (importing the app module builds the app)."""
    __import__(app_module)
    from reflex.state import State

    return _walk_states(State)


def list_event_handlers(app_module: str = "imagechat.imagechat") -> list[HandlerInfo]:
    """Every public event handler of every state class, found by introspection: a new handler, a new state or
    a handler Reflex adds (hydrate, setvar, ...) is listed without anyone editing a list."""
    from reflex_base.utils.format import format_event_handler

    found: list[HandlerInfo] = []
    for cls in state_classes(app_module):
        for method, handler in sorted(cls.event_handlers.items()):
            if method.startswith("_"):
                continue
            fn = handler.fn
            sig = inspect.signature(fn)
            params = tuple(p for p in sig.parameters if p != "self")
            found.append(HandlerInfo(
                name=format_event_handler(handler), state=cls, method=method, params=params,
                signature=f"{method}{sig}", background=bool(handler.is_background),
                module=getattr(fn, "__module__", "") or "", fn=fn,
            ))
    return found


def cookie_storage_vars(cookies: Mapping[str, str], app_module: str = "imagechat.imagechat") -> dict[str, str]:
    """The `vars` the frontend puts into `hydrate_and_load` for these browser cookies (rx.Cookie state vars,
    `hydrateClientStorage` in state.js): {"<state full name>.<var>_rx_state_": value}."""
    return {key: cookies[name] for key, name in _cookie_vars(app_module).items() if name in cookies}


@functools.cache
def _cookie_vars(app_module: str) -> dict[str, str]:
    """{state key: cookie name} of every rx.Cookie var, as the compiler writes `clientStorage`."""
    from reflex.compiler.utils import compile_client_storage
    from reflex.state import State

    state_classes(app_module)
    return {key: options.get("name") or key for key, options in compile_client_storage(State)["cookies"].items()}


def field_types(cls: type) -> dict[str, Any]:
    """Declared types of a state's own frontend vars, keyed as they appear in deltas (`name_rx_state_`)."""
    out = {}
    for name, field in getattr(cls, "__fields__", {}).items():
        if getattr(field, "_owner", cls) is not cls or name.startswith("_"):
            continue
        typ = getattr(field, "outer_type_", None) or getattr(field, "annotated_type", None)
        if typ is not None:
            out[name + FIELD_MARKER] = typ
    return out


def run_async(fn: Callable[..., Any], *args: Any) -> Any:
    """Run a coroutine function in a thread of its own (Playwright's sync API may hold this thread's loop),
    in a copy of this thread's context: Reflex keeps its registry of states in a context variable."""
    result: dict[str, Any] = {}
    context = contextvars.copy_context()

    def target() -> None:
        try:
            result["value"] = context.run(asyncio.run, fn(*args))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=target, name="reflex-client-loop")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")
