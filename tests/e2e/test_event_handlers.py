"""Hardening point 1: every public event handler of every state resists hostile calls.

Reflex lets any websocket client call any public handler of any state, signed in or not, with arguments of any
type. The handlers are found by introspection (tests/support/reflex_client.py `list_event_handlers`), so a new
handler is swept without editing this file. Each one is called over the real prod app's websocket, once
anonymously and once as user B, with hostile arguments (wrong types, huge and marked-up strings, random UUIDs
and the real ids of user A's conversation, messages, job and image). Calls run in parallel workers; each worker
has its own user A (so a database change is pinned to one call) and one tab per identity for each handler
(hydrated on the chat page like a browser's, reopened when the server drops it or B's session ends).

Checks, per call:
- time:   everything the call caused arrived within 1 s of sending it (a sentinel event queued right behind it
          proves a foreground handler finished; background handlers must not keep running either: a progress
          subscription left behind 1.5 s later counts). Calls slow only while the sweep runs in parallel are
          re-run alone; only a slow isolated run fails.
- leak:   no message to the caller contains another user's data (A's username, conversation title and message
          text marker, image and job ids), except values the call itself sent.
- ping:   the server still answers /ping.
- db:     A's rows (user, sessions, conversations, messages, jobs, images, ledger) are unchanged, and no row of
          anyone else gained A's text or a reference to A's images or jobs (db-leak).
- type:   every var of our states the call changed still has its declared type (no None in a str, no "x" in an
          int), whichever handler (ours or Reflex's setvar/update_vars_internal) set it.
- length: no string longer than 10 000 characters landed in our states.
- raised: (our own handlers only, those defined in imagechat/; Reflex's built-ins cannot be changed here) the
          handler did not fail with an unhandled exception (Reflex's "An error occurred" toast): it checked its
          arguments instead.

A second test replays realistic attack sequences in one long-lived tab (select A's conversation, then rename,
send, retry, delete ...), where state set by one call is used by the next.

Failures are written to artifacts/event-handler-sweep.{txt,json} as well as the assertion message.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import time
import typing
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.helpers import PASSWORD, SUNSET
from tests.support.reflex_client import (
    Collected,
    HandlerInfo,
    ReflexClient,
    ReflexClientError,
    cookie_storage_vars,
    field_types,
    list_event_handlers,
    open_tab,
    router_data,
    run_async,
    state_classes,
)

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
BUDGET_S = 1.0  # a call, and everything it causes, is over within this
QUIET_S = 0.25  # no message for this long after the sentinel: the call has settled
MAX_WAIT_S = 4.0  # give up waiting for a call after this
ALONE_TRIES = 3  # a call slow in the parallel sweep is re-run alone this many times before it fails
LINGER_S = 1.5  # a background task still subscribed this long after its call did not return promptly
MAX_STATE_STRING = 10_000
WORKERS = int(os.environ.get("E2E_SWEEP_WORKERS", "6"))  # parallel tabs (one per victim and B session)
SESSION_COOKIE = "imagechat_session"
IDENTITIES = ("anonymous", "B")
ERROR_MARKERS = ("backend_error", "An error occurred.")
ID_KINDS = ("conversation", "message", "job", "image")

# ---------------------------------------------------------------- hostile arguments


@dataclasses.dataclass(frozen=True)
class Arg:
    """One hostile value; `ref` ones are resolved per call (a fresh random UUID, the victim's real ids)."""

    label: str
    value: Any = None
    ref: str | None = None

    def resolve(self, victim: Victim) -> Any:
        if self.ref is None:
            return self.value
        if self.ref == "uuid":
            return str(uuid.uuid4())
        return victim.ref(self.ref)


def _nested(depth: int) -> dict:
    value: dict = {"title": "deep", "id": 1}
    for i in range(depth):
        value = {"title": value, "q": [value] if i % 8 == 0 else "x", "id": {"$gt": 0}}
    return value


HOSTILE: tuple[Arg, ...] = (
    Arg("None", None),
    Arg("0", 0),
    Arg("-1", -1),
    Arg("True", True),
    Arg("2**70", 2**70),
    Arg("1.5", 1.5),
    Arg("''", ""),
    Arg("'x'*100000", "x" * 100_000),
    Arg("'<reflex.Var>x</reflex.Var>'", "<reflex.Var>x</reflex.Var>"),
    Arg("'<reflex.Var>1</reflex.Var>alert(1)'", "<reflex.Var>1</reflex.Var>alert(1)"),
    Arg("'<script>alert(1)</script>'", "<script>alert(1)</script>"),
    Arg("'../../etc/passwd'", "../../etc/passwd"),
    Arg("\"' OR 1=1 --\"", "' OR 1=1 --"),
    Arg("random-uuid", ref="uuid"),
    Arg("[]", []),
    Arg("{}", {}),
    Arg("{'title': 'x'*10000}", {"title": "x" * 10_000}),
    Arg("nested-dict(depth 40)", _nested(40)),
    Arg("hostile-form", {"title": {"$ne": ""}, "q": ["x"], "username": {"a": 1}, "password": [1], "value": None,
                         "conversation_id": "1 OR 1=1", "id": -1}),
)
COOKIE_VALUES = {"None", "True", "2**70", "'x'*100000", "'<reflex.Var>x</reflex.Var>'", "[]", "{'title': 'x'*10000}"}
VICTIM_ARGS = {kind: Arg(f"A.{kind}_id", ref=kind) for kind in ID_KINDS}
BENIGN = Arg("'hello'", "hello")


def looks_like_id(param: str) -> bool:
    name = param.lower()
    return name == "id" or name.endswith("_id") or name.endswith("id") or name.endswith("_ids")


def id_kinds(param: str) -> list[str]:
    """The victim's ids to try for a parameter: those its name names first, then the others."""
    named = [k for k in ID_KINDS if k in param.lower()]
    return named + [k for k in ID_KINDS if k not in named]


def values_for(handler: HandlerInfo, param: str) -> list[Arg]:
    values = list(HOSTILE)
    if looks_like_id(param):
        values += [VICTIM_ARGS[k] for k in id_kinds(param)]
    if param == "vars":  # Reflex's client-storage map: hostile values for the session cookie's own var
        for key in cookie_storage_vars({SESSION_COOKIE: ""}) or {}:
            short = key.rsplit(".", 1)[-1]
            for arg in HOSTILE:
                if arg.label in COOKIE_VALUES:
                    values.append(Arg(f"{{{short}: {arg.label}}}", {key: arg.value}))
    return values


def companion(param: str) -> Arg:
    """What the other parameters get while one is hostile: the victim's id where one fits, else a plain word."""
    return VICTIM_ARGS[id_kinds(param)[0]] if looks_like_id(param) else BENIGN


@dataclasses.dataclass(frozen=True)
class Call:
    handler: HandlerInfo
    args: tuple[tuple[str, Arg], ...]

    @property
    def label(self) -> str:
        return ", ".join(f"{p}={a.label}" for p, a in self.args) or "(no arguments)"

    def payload(self, victim: Victim) -> dict:
        return {p: a.resolve(victim) for p, a in self.args}


def plan(handler: HandlerInfo) -> list[Call]:
    """Each parameter through every hostile value (the others get their companion), and with two or more
    parameters also every hostile value in all of them at once."""
    if not handler.params:
        return [Call(handler, ())]
    if set(handler.params) == {"var_name", "value"}:
        return plan_setvar(handler)
    calls: list[Call] = []
    seen: set[str] = set()

    def add(call: Call) -> None:
        if call.label not in seen:
            seen.add(call.label)
            calls.append(call)

    for param in handler.params:
        for arg in values_for(handler, param):
            add(Call(handler, tuple((p, arg if p == param else companion(p)) for p in handler.params)))
    if len(handler.params) > 1:
        for arg in HOSTILE:
            add(Call(handler, tuple((p, arg) for p in handler.params)))
    return calls


def plan_setvar(handler: HandlerInfo) -> list[Call]:
    """Reflex's generic `setvar(var_name, value)` (on every state) calls `set_<var_name>(value)`: hostile names,
    then every name it can really reach on this state with hostile values."""
    reachable = sorted(m.removeprefix("set_") for m in handler.state.event_handlers if m.startswith("set_"))
    calls = [Call(handler, (("var_name", arg), ("value", BENIGN))) for arg in HOSTILE]
    for name in reachable:
        calls += [Call(handler, (("var_name", Arg(repr(name), name)), ("value", arg))) for arg in HOSTILE]
    return calls


# ---------------------------------------------------------------- the users


@dataclasses.dataclass
class Victim:
    """User A: a conversation with a title and a message carrying a marker, and a finished image."""

    user_id: int
    username: str
    marker: str
    conversation_id: int
    message_ids: list[int]
    job_ids: list[str]
    image_ids: list[str]

    def ref(self, kind: str) -> Any:
        return {"conversation": self.conversation_id, "message": self.message_ids[0],
                "job": self.job_ids[0], "image": self.image_ids[0]}[kind]

    def secrets(self) -> list[str]:
        return [self.marker, self.username, *self.image_ids, *self.job_ids]


async def seed_victim() -> Victim:
    from imagechat.core import chat, conversations
    from imagechat.models import JobStatus
    from tests.support.waiting import wait_for_job

    tag = uuid.uuid4().hex[:10]
    username, marker = f"victim_{tag}", f"zqx{tag}"
    user = await asyncio.to_thread(make_user, username)
    conv = await asyncio.to_thread(conversations.create, user.id)
    # 256x256: the offline painter takes seconds for 1024x1024, and a victim is seeded per worker.
    turn = await chat.respond(user.id, conv.id, f"{SUNSET.replace('an image', 'a 256x256 image')}, {marker} edition")
    assert turn.job_id, f"seeding: the sunset prompt did not start a job: {turn.reply}"
    await asyncio.to_thread(wait_for_job, turn.job_id, lambda row: row.status == JobStatus.SUCCEEDED, 120)
    await asyncio.to_thread(conversations.rename, user.id, conv.id, f"Trip notes {marker}")
    views = await asyncio.to_thread(conversations.messages, user.id, conv.id)
    images = [i.id for v in views for i in v.images]
    assert images, "seeding: the finished job left no image in the conversation"
    user_msgs = [v.id for v in views if v.role == "user"]
    return Victim(user_id=user.id, username=username, marker=marker, conversation_id=conv.id,
                  message_ids=user_msgs + [v.id for v in views if v.id not in user_msgs],
                  job_ids=[str(turn.job_id)], image_ids=[str(i) for i in images])


def make_user(username: str) -> Any:
    """A real account with PASSWORD (the administrator's way when there is one: no sign-up mode or throttle)."""
    from imagechat.core import auth

    create = getattr(auth, "create_user", None) or auth.sign_up
    return create(username, PASSWORD)


def new_session(user_id: int, username: str) -> str:
    """A fresh session token for the user (without the log-in throttle when the domain offers that)."""
    from imagechat.core import auth

    if hasattr(auth, "start_session"):
        return auth.start_session(user_id)[1]
    return auth.log_in(username, PASSWORD)[1]


@dataclasses.dataclass
class Attacker:
    """User B: signed in, with a session of each worker's own (a swept log_out ends only that one)."""

    user_id: int
    username: str

    @classmethod
    def create(cls) -> Attacker:
        name = f"attacker_{uuid.uuid4().hex[:10]}"
        return cls(make_user(name).id, name)

    def new_token(self) -> str:
        return new_session(self.user_id, self.username)


def token_valid(token: str) -> bool:
    from imagechat.core import auth

    user = auth.user_for_token(token)
    return user is not None


# ---------------------------------------------------------------- database snapshots

_OWN = {
    "user": "select id, username, password_hash from users where id = :a",
    "sessions": "select count(*) from auth_sessions where user_id = :a",
    "conversations": "select id, owner_id, title, updated_at from conversations where owner_id = :a",
    "messages": "select id, conversation_id, owner_id, role, content, job_id, error_code from messages "
                "where owner_id = :a or conversation_id in {convs}",
    "jobs": "select id, owner_id, conversation_id, status, percent, stage, error, attempts, prompt, "
            "source_image_id, finished_at from generation_jobs where owner_id = :a or conversation_id in {convs}",
    "images": "select id, owner_id, job_id, conversation_id, parent_image_id, prompt, favorite from images "
              "where owner_id = :a or conversation_id in {convs}",
    "ledger": "select id, owner_id, job_id, status, amount_usd from usage_ledger where owner_id = :a",
}
_FOREIGN = {  # other users' rows that carry A's text or point at A's objects
    "conversations": "select id, owner_id, title from conversations where owner_id <> :a and title like :m",
    "messages": "select id, owner_id, content from messages where owner_id <> :a and "
                "(content like :m or job_id = any(:j))",
    "jobs": "select id, owner_id, prompt from generation_jobs where owner_id <> :a and "
            "(prompt like :m or source_image_id = any(:i))",
    "images": "select id, owner_id, prompt from images where owner_id <> :a and "
              "(prompt like :m or parent_image_id = any(:i) or job_id = any(:j))",
}


def snapshot(victim: Victim) -> dict[str, list[tuple]]:
    """A's rows and other users' rows that carry A's data, in one round trip."""
    from sqlalchemy import text

    from imagechat.db import get_engine

    params = {"a": victim.user_id, "m": f"%{victim.marker}%", "j": [uuid.UUID(j) for j in victim.job_ids],
              "i": [uuid.UUID(i) for i in victim.image_ids], "c0": victim.conversation_id}
    convs = "(select id from conversations where owner_id = :a union select :c0)"  # A's, and the seeded one
    parts = {name: sql.format(convs=convs) for name, sql in _OWN.items()}
    parts.update({"foreign " + name: sql for name, sql in _FOREIGN.items()})
    query = "select " + ", ".join(
        f"coalesce((select json_agg(row_to_json(t)) from ({sql}) t), '[]') as \"{name}\""
        for name, sql in parts.items())
    with get_engine().connect() as conn:
        row = conn.execute(text(query), params).mappings().one()
    return {name: sorted(tuple(str(v)[:200] for v in r.values()) for r in row[name]) for name in parts}


def describe_change(before: dict, after: dict) -> tuple[str, str]:
    """("db" or "db-leak", what changed)."""
    parts, check = [], "db"
    for table in after:
        old, new = set(before.get(table, [])), set(after.get(table, []))
        if old == new:
            continue
        if table.startswith("foreign"):
            check = "db-leak"
        old_ids, new_ids = {r[0] for r in old}, {r[0] for r in new}
        added = [r for r in new if r[0] not in old_ids]
        removed = [r for r in old if r[0] not in new_ids]
        changed = [r for r in new if r[0] in old_ids and r not in old]
        bits = [f"{len(v)} {k}" for k, v in (("added", added), ("removed", removed), ("changed", changed)) if v]
        sample = (added or changed or removed)[0]
        parts.append(f"{table}: {', '.join(bits)} (e.g. {str(sample)[:160]})")
    return check, "; ".join(parts)


# ---------------------------------------------------------------- results


@dataclasses.dataclass
class Failure:
    handler: str
    identity: str
    args: str
    check: str
    detail: str
    load_sensitive: bool = False  # a plain "too slow": re-run alone before it counts


@dataclasses.dataclass
class Outcome:
    call: Call
    identity: str
    settle_s: float | None  # None: no answer within MAX_WAIT_S
    failures: list[Failure]
    sent_at: float
    payload: dict


@dataclasses.dataclass
class Report:
    failures: list[Failure] = dataclasses.field(default_factory=list)
    slow_under_load: list[str] = dataclasses.field(default_factory=list)
    worst: dict[str, float] = dataclasses.field(default_factory=dict)  # handler -> slowest settle
    calls: int = 0
    seconds: float = 0.0

    def add(self, failure: Failure) -> None:
        key = (failure.handler, failure.identity, failure.args, failure.check)
        if not any((f.handler, f.identity, f.args, f.check) == key for f in self.failures):
            self.failures.append(failure)

    def summary(self) -> str:
        grouped: dict[tuple[str, str], list[Failure]] = defaultdict(list)
        for f in self.failures:
            grouped[(f.handler, f.check)].append(f)
        lines = [f"{len(self.failures)} failing handler/argument/check combinations "
                 f"({len(grouped)} handler/check pairs) in {self.calls} calls, {self.seconds:.0f} s:"]
        for (handler, check), items in sorted(grouped.items()):
            by_args: dict[str, set[str]] = defaultdict(set)
            details: dict[str, str] = {}
            for f in items:
                by_args[f.args].add(f.identity)
                details.setdefault(f.args, f.detail)
            lines.append(f"- {handler} [{check}]")
            for args, who in by_args.items():
                lines.append(f"    {'+'.join(sorted(who))}: {args}  ->  {details[args][:300]}")
        if self.slow_under_load:
            lines.append("Slow in the sweep, but within the budget when re-run alone (not failures):")
            lines += [f"    {s}" for s in self.slow_under_load]
        return "\n".join(lines)

    def write(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / f"{name}.txt").write_text(self.summary() + "\n")
        (ARTIFACTS / f"{name}.json").write_text(json.dumps({
            "failures": [dataclasses.asdict(f) for f in self.failures], "slow_under_load": self.slow_under_load,
            "worst_settle_s": self.worst, "calls": self.calls, "seconds": self.seconds}, indent=1))


# ---------------------------------------------------------------- one call


@dataclasses.dataclass
class Slot:
    """A worker: its own victim, its own B session, its last DB baseline."""

    index: int
    victim: Victim
    b_token: str
    baseline: dict | None = None
    last: str = ""


class Sweep:
    def __init__(self, base_url: str, handlers: list[HandlerInfo], victims: list[Victim], attacker: Attacker):
        self.base = base_url
        self.handlers = handlers
        self.victims = victims
        self.attacker = attacker
        self.report = Report()
        self.http: httpx.AsyncClient | None = None
        self.open_failures = 0
        sentinel = [h for h in handlers if h.state.__name__ == "OnLoadInternalState" and h.method == "set_is_hydrated"]
        assert sentinel, "Reflex no longer has OnLoadInternalState.set_is_hydrated: pick another sentinel"
        self.sentinel = sentinel[0].name
        self.app_types = {cls.get_full_name(): field_types(cls) for cls in state_classes()
                          if cls.__module__.split(".")[0] == "imagechat"}

    def secrets(self, identity: str, slot: Slot) -> list[str]:
        found = [s for v in self.victims for s in v.secrets()]
        if identity == "anonymous":
            found.append(self.attacker.username)
        return found

    async def tab(self, identity: str, slot: Slot) -> ReflexClient:
        if identity == "anonymous":
            return await open_tab(self.base, path="/")
        cookies = {SESSION_COOKIE: slot.b_token}
        tab = await open_tab(self.base, path="/", cookies=cookies, storage_vars=cookie_storage_vars(cookies))
        if tab.hydrated is None or self.attacker.username not in tab.hydrated.text:
            await tab.close()
            raise AssertionError("harness: B's tab is not signed in as B, so the sweep would be anonymous twice")
        return tab

    async def wait_for_server(self, timeout: float = 60.0) -> None:
        """After repeated failures to open a tab: wait until a tab opens again, or stop the sweep."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                tab = await open_tab(self.base, path="/", timeout=10)
            except (ReflexClientError, OSError, TimeoutError):
                await asyncio.sleep(2)
                continue
            await tab.close()
            self.open_failures = 0
            return
        raise AssertionError(f"the app stopped opening tabs for {timeout:g} s; so far:\n{self.report.summary()}")

    async def fresh_b_session(self, slot: Slot) -> None:
        if not await asyncio.to_thread(token_valid, slot.b_token):
            slot.b_token = await asyncio.to_thread(self.attacker.new_token)

    async def call_in(self, tab: ReflexClient, name: str, payload: dict) -> tuple[float, Collected]:
        """Send the call and, right behind it, a sentinel the per-tab queue runs only after a foreground handler
        finished; wait for the sentinel's answer and then for the stream to go quiet."""
        probe = uuid.uuid4().hex
        sent = await tab.send(name, payload, path="/")
        await tab.send(self.sentinel, {"value": True}, router=router_data("/", {"probe": probe}))
        got = await tab.collect(quiet=QUIET_S, max_wait=MAX_WAIT_S, until=lambda m: probe in m.text)
        return sent, got

    def examine(self, call: Call, identity: str, slot: Slot, payload: dict, sent: float,
                got: Collected) -> tuple[float | None, list[Failure]]:
        h, failures = call.handler, []

        def fail(check: str, detail: str) -> None:
            failures.append(Failure(h.short, identity, call.label, check, detail))

        settle = None if got.timed_out else (got.last_at - sent if got.last_at else 0.0)
        if settle is None:
            fail("time", f"not settled within {MAX_WAIT_S:g} s ({len(got.messages)} messages; "
                         f"sentinel {'answered' if got.until_met else 'never answered'})")
        elif settle > BUDGET_S:
            fail("time", f"last message {settle:.2f} s after the call")
        for f in failures:
            f.load_sensitive = True
        sent_text = json.dumps(payload)
        text = got.text
        leaked = [s for s in self.secrets(identity, slot) if s not in sent_text and s in text]
        if leaked:
            at = text.find(leaked[0])
            fail("leak", f"{leaked[:4]} in: …{text[max(0, at - 150):at + 80]}…")
        if h.ours and any(marker in text for marker in ERROR_MARKERS):
            fail("raised", "unhandled exception (Reflex's backend_error toast)")
        bad_type, too_long = self.state_violations(got)  # our states' vars, whoever's handler set them
        if bad_type:
            fail("type", "; ".join(bad_type[:3]))
        if too_long:
            fail("length", "; ".join(too_long[:3]))
        return settle, failures

    def state_violations(self, got: Collected) -> tuple[list[str], list[str]]:
        bad_type, too_long = [], []
        for msg in got.messages:
            for state, changes in msg.delta.items():
                types_ = self.app_types.get(state)
                if types_ is None or not isinstance(changes, dict):
                    continue
                short = state.rsplit(".", 1)[-1].split("____")[-1]
                for var, value in changes.items():
                    typ = types_.get(var)
                    name = f"{short}.{var.removesuffix('_rx_state_')}"
                    if typ is not None and not conforms(value, typ):
                        bad_type.append(f"{name} = {json.dumps(value)[:60]} is not {typ}")
                    longest = longest_string(value)
                    if longest > MAX_STATE_STRING:
                        too_long.append(f"{name} holds a {longest}-character string")
        return bad_type, too_long

    async def ping(self) -> str | None:
        assert self.http is not None
        try:
            resp = await self.http.get(f"{self.base}/ping", timeout=5)
        except httpx.HTTPError as exc:
            return f"/ping failed: {type(exc).__name__}: {exc}"
        return None if resp.status_code == 200 else f"/ping answered {resp.status_code}"

    async def run_call(self, call: Call, identity: str, slot: Slot,
                       tabs: dict[str, ReflexClient] | None = None) -> Outcome:
        """One call in the worker's tab for this identity (`tabs`: kept for the rest of the handler's batch;
        None: a fresh tab, closed afterwards). A tab the server dropped or a stale B session means a new tab."""
        victim = slot.victim
        payload = call.payload(victim)
        failures: list[Failure] = []
        if slot.baseline is None:
            slot.baseline = await asyncio.to_thread(snapshot, victim)
        before = slot.baseline
        if identity == "B":
            await self.fresh_b_session(slot)
        tab = (tabs or {}).get(identity)
        if tab is None or tab.closed.is_set() or (identity == "B" and tab.cookies.get(SESSION_COOKIE) != slot.b_token):
            if tab is not None:
                await tab.close()
            try:
                tab = await self.tab(identity, slot)
            except (ReflexClientError, OSError, TimeoutError) as exc:
                # The app stopped serving new tabs while this handler's calls ran (they are its only load).
                self.open_failures += 1
                if self.open_failures >= 5:
                    await self.wait_for_server()
                return Outcome(call, identity, None, [Failure(
                    call.handler.short, identity, "(any: the calls of this handler in parallel)", "ping",
                    f"a new tab did not open while they ran: {exc}")], time.monotonic(), payload)
            self.open_failures = 0
            if tabs is not None:
                tabs[identity] = tab
        try:
            sent, got = await self.call_in(tab, call.handler.name, payload)
        except ReflexClientError as exc:  # the send itself failed: the server had closed the socket
            sent, got = time.monotonic(), Collected([], until_met=False, timed_out=True)
            failures.append(Failure(call.handler.short, identity, call.label, "ping", f"tab closed: {exc}"))
        settle, found = self.examine(call, identity, slot, payload, sent, got)
        failures += found
        if tab.closed.is_set():
            failures.append(Failure(call.handler.short, identity, call.label, "ping",
                                    f"the server dropped the websocket: {tab.close_reason}"))
        if tabs is None or tab.closed.is_set() or got.timed_out:
            await tab.close()
            if tabs is not None:
                tabs.pop(identity, None)
        if (problem := await self.ping()) is not None:
            failures.append(Failure(call.handler.short, identity, call.label, "ping", problem))
        after = await asyncio.to_thread(snapshot, victim)
        if after != before:
            check, what = describe_change(before, after)
            if slot.last:
                what += f" (or a late effect of the worker's previous call: {slot.last.replace('|', ' ')})"
            failures.append(Failure(call.handler.short, identity, call.label, check, what))
        slot.baseline, slot.last = after, f"{call.handler.short}|{identity}|{call.label}"
        return Outcome(call, identity, settle, failures, sent, payload)

    # ------------------------------------------------------------ batches

    def lingering_channels(self) -> set[str]:
        from imagechat.core import progress, redis_client

        prefix = progress.channel("")
        return {c.decode() if isinstance(c, bytes) else c
                for c in redis_client.client().pubsub_channels(prefix + "*")}

    async def run_batch(self, work: list[tuple[Call, str]], slots: list[Slot]) -> list[Outcome]:
        from imagechat.core import progress

        before = await asyncio.to_thread(self.lingering_channels)
        queue: asyncio.Queue[tuple[Call, str]] = asyncio.Queue()
        for item in work:
            queue.put_nowait(item)
        outcomes: list[Outcome] = []

        async def worker(slot: Slot) -> None:
            tabs: dict[str, ReflexClient] = {}  # one tab per identity for this handler's calls
            try:
                while not queue.empty():
                    call, identity = queue.get_nowait()
                    outcomes.append(await self.run_call(call, identity, slot, tabs))
            finally:
                for tab in tabs.values():
                    await tab.close()

        await asyncio.gather(*(worker(s) for s in slots))
        # Background work the calls started must be over: no progress subscription may outlive LINGER_S.
        left = await asyncio.to_thread(self.lingering_channels) - before
        if left:
            last_sent = max(o.sent_at for o in outcomes)
            await asyncio.sleep(max(0.0, last_sent + LINGER_S - time.monotonic()))
            left = await asyncio.to_thread(self.lingering_channels) - before
        prefix = progress.channel("")
        victim_jobs = {j for v in self.victims for j in v.job_ids}
        for channel in sorted(left):
            job = channel.removeprefix(prefix)
            culprits = [o for o in outcomes if job in _strings(o.payload)]
            for o in culprits:
                o.failures.append(Failure(o.call.handler.short, o.identity, o.call.label, "time",
                                          f"a background task is still subscribed to progress of {job[:40]!r} "
                                          f"{LINGER_S:g} s after the call"))
            if not culprits and job in victim_jobs:
                h = work[0][0].handler.short
                self.report.add(Failure(h, "?", "?", "time", f"something still follows A's job {job}"))
        # Late database effects of each worker's last call.
        for slot in slots:
            now = await asyncio.to_thread(snapshot, slot.victim)
            if slot.baseline is not None and now != slot.baseline:
                check, what = describe_change(slot.baseline, now)
                h, who, args = slot.last.split("|", 2)
                self.report.add(Failure(h, who, args, check, f"(after the call settled) {what}"))
                slot.baseline = now
        return outcomes

    def record(self, outcomes: list[Outcome]) -> list[Outcome]:
        """Record failures; return the calls whose only problem may be the machine's load (to re-run alone)."""
        retry = []
        for o in outcomes:
            self.report.calls += 1
            if o.settle_s is not None:
                key = o.call.handler.short
                self.report.worst[key] = max(self.report.worst.get(key, 0.0), round(o.settle_s, 3))
            if any(f.load_sensitive for f in o.failures):
                retry.append(o)
            for f in o.failures:
                if not f.load_sensitive:
                    self.report.add(f)
        return retry

    async def confirm_alone(self, outcomes: list[Outcome], slot: Slot, *, label: str = "in the parallel sweep") -> None:
        """Re-run slow calls one at a time in a fresh tab, up to ALONE_TRIES times: the machine is shared, so
        a call fails the time check only if it is slow in every isolated run."""
        for o in outcomes:
            first = f"{o.settle_s:.2f} s" if o.settle_s is not None else f"> {MAX_WAIT_S:g} s"
            runs: list[str] = []
            slow: list[Failure] = []
            for _ in range(ALONE_TRIES):
                again = await self.run_call(o.call, o.identity, slot)
                for f in again.failures:
                    if not f.load_sensitive:
                        self.report.add(f)
                slow = [f for f in again.failures if f.load_sensitive]
                runs.append(f"{again.settle_s:.2f} s" if again.settle_s is not None else f"> {MAX_WAIT_S:g} s")
                if not slow:
                    break
            if slow:
                for f in slow:
                    f.detail += f" (alone, {ALONE_TRIES} tries: {', '.join(runs)}; {first} {label})"
                    self.report.add(f)
            else:
                self.report.slow_under_load.append(
                    f"{o.call.handler.short} {o.identity} {o.call.label}: {first} {label}, alone {', '.join(runs)}")


def _strings(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set().union(*(_strings(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_strings(v) for v in value)) if value else set()
    return set()


def longest_string(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return max((longest_string(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return max((longest_string(v) for v in value), default=0)
    return 0


def conforms(value: Any, typ: Any) -> bool:
    """Whether a value sent in a delta matches the var's declared type (shallow for unknown generics)."""
    if typ is Any:
        return True
    origin, args = typing.get_origin(typ), typing.get_args(typ)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return any(conforms(value, a) for a in args)
    if typ is type(None):
        return value is None
    if typ is bool:
        return isinstance(value, bool)
    if typ is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if typ is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if typ is str:
        return isinstance(value, str)
    if origin in (list, tuple, set, frozenset):
        return isinstance(value, list) and (not args or all(conforms(v, args[0]) for v in value))
    if origin is dict or typ is dict:
        return isinstance(value, dict)
    if dataclasses.is_dataclass(typ):
        if not isinstance(value, dict):
            return False
        hints = typing.get_type_hints(typ)
        return all(k in hints and conforms(v, hints[k]) for k, v in value.items())
    return True


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def handlers(app_server) -> list[HandlerInfo]:
    found = list_event_handlers()
    ours = [h for h in found if h.ours]
    assert len(ours) >= 10, f"introspection found too few of our handlers: {[h.short for h in found]}"
    return found


@pytest.fixture(scope="module")
def victims(app_server) -> list[Victim]:
    async def seed() -> list[Victim]:
        return list(await asyncio.gather(*(seed_victim() for _ in range(WORKERS + 1))))

    return run_async(seed)


@pytest.fixture(scope="module")
def attacker(app_server) -> Attacker:
    return Attacker.create()


# ---------------------------------------------------------------- tests


def test_harness_controls(app_server, handlers, victims, attacker):
    """The harness sees what it must: A's own tab shows A's marker (so a leak would be seen), B's tab is signed
    in as B and shows nothing of A, a plain call's delta arrives behind the sentinel within the budget, and the
    database snapshot notices a change of A's rows and A's text copied into B's."""
    victim = victims[-1]

    async def controls() -> dict[str, Any]:
        token = await asyncio.to_thread(new_session, victim.user_id, victim.username)
        cookies = {SESSION_COOKIE: token}
        a_tab = await open_tab(app_server, cookies=cookies, storage_vars=cookie_storage_vars(cookies))
        await a_tab.close()
        sweep = Sweep(app_server, handlers, victims, attacker)
        slot = Slot(0, victim, await asyncio.to_thread(attacker.new_token))
        b_tab = await sweep.tab("B", slot)
        set_draft = next(h for h in handlers if h.short == "ChatState.set_draft")
        try:
            sent, got = await sweep.call_in(b_tab, set_draft.name, {"value": "hello from the harness"})
        finally:
            await b_tab.close()
        # The database checks see a change of A's rows, and A's text in someone else's row.
        from imagechat.core import conversations

        control = await seed_victim()
        before = await asyncio.to_thread(snapshot, control)
        await asyncio.to_thread(conversations.rename, control.user_id, control.conversation_id, "Renamed")
        renamed = await asyncio.to_thread(snapshot, control)
        await asyncio.to_thread(conversations.create, attacker.user_id, f"copy of {control.marker}")
        copied = await asyncio.to_thread(snapshot, control)
        return {"a": a_tab.hydrated.text, "b": b_tab.hydrated.text, "got": got, "sent": sent,
                "renamed": describe_change(before, renamed), "copied": describe_change(renamed, copied)}

    seen = run_async(controls)
    assert seen["renamed"][0] == "db" and "conversations: 1 changed" in seen["renamed"][1], seen["renamed"]
    assert seen["copied"][0] == "db-leak" and "foreign conversations: 1 added" in seen["copied"][1], seen["copied"]
    assert victim.marker in seen["a"] and victim.username in seen["a"], \
        "A's own tab does not show A's conversation: the leak check would see nothing"
    assert victim.marker not in seen["b"] and attacker.username in seen["b"]
    got: Collected = seen["got"]
    assert got.until_met and not got.timed_out, "the sentinel never answered"
    assert "hello from the harness" in got.text
    assert got.last_at - seen["sent"] < BUDGET_S


def test_every_handler_resists_hostile_calls(app_server, handlers, victims, attacker):
    """Every public handler x every hostile argument set x (anonymous, B): see the module docstring."""
    started = time.monotonic()

    async def sweep() -> Report:
        s = Sweep(app_server, handlers, victims, attacker)
        slots = [Slot(i, victims[i], await asyncio.to_thread(attacker.new_token)) for i in range(WORKERS)]
        retry: list[Outcome] = []
        async with httpx.AsyncClient() as s.http:
            only = os.environ.get("E2E_SWEEP_HANDLERS", "")  # e.g. "ChatState.,AuthState.log_out": a subset
            for handler in handlers:
                if only and not any(part and part in handler.short for part in only.split(",")):
                    continue
                work = [(call, who) for call in plan(handler) for who in IDENTITIES]
                t = time.monotonic()
                outcomes = await s.run_batch(work, slots)
                retry += s.record(outcomes)
                print(f"[sweep] {handler.short}: {len(work)} calls in {time.monotonic() - t:.1f} s", flush=True)
            await s.confirm_alone(retry, slots[0])
        return s.report

    report = run_async(sweep)
    report.seconds = time.monotonic() - started
    report.write("event-handler-sweep")
    print("\n" + report.summary())
    assert not report.failures, report.summary()


SEQUENCE_TEXT = "pwned by B, please ignore"
SEQUENCE_FORM = {"title": "pwned by B", "q": "sunset", "username": "", "password": "", "value": "pwned"}


def sequence_payload(handler: HandlerInfo, victim: Victim) -> dict:
    """A plausible call a malicious client would make: A's ids where an id goes, words and forms elsewhere."""
    try:
        hints = typing.get_type_hints(handler.fn)
    except Exception:  # noqa: BLE001 - unresolvable hints: fall back on names
        hints = {}
    out = {}
    for p in handler.params:
        hint = hints.get(p)
        if looks_like_id(p):
            out[p] = victim.ref(id_kinds(p)[0])
        elif hint is bool:
            out[p] = True
        elif p in ("form", "vars") or typing.get_origin(hint) is dict or hint is dict:
            out[p] = dict(SEQUENCE_FORM)
        else:
            out[p] = SEQUENCE_TEXT
    return out


def test_hostile_sequences_in_one_tab(app_server, handlers, victims, attacker):
    """State set by one call is used by the next (select A's conversation, then send, rename, retry, delete ...):
    the whole handler list, id-taking handlers first, twice, in one long-lived tab per identity."""
    victim = victims[-1]
    ordered = sorted(handlers, key=lambda h: (not any(looks_like_id(p) for p in h.params), not h.params,
                                              h.method in ("log_out", "hydrate")))

    async def sequences() -> Report:
        s = Sweep(app_server, handlers, victims, attacker)
        slot = Slot(0, victim, await asyncio.to_thread(attacker.new_token))
        slow: list[Outcome] = []
        async with httpx.AsyncClient() as s.http:
            for identity in IDENTITIES:
                for round_ in (1, 2):
                    await s.fresh_b_session(slot)
                    tab = await s.tab(identity, slot)
                    baseline = await asyncio.to_thread(snapshot, victim)
                    try:
                        for step, handler in enumerate(ordered):
                            payload = sequence_payload(handler, victim)
                            call = Call(handler, tuple((p, Arg(json.dumps(v)[:40], v)) for p, v in payload.items()))
                            label = f"round {round_} step {step}"
                            try:
                                sent, got = await s.call_in(tab, handler.name, payload)
                            except ReflexClientError as exc:
                                s.report.add(Failure(handler.short, identity, call.label, "ping",
                                                     f"{label}: the server dropped the tab: {exc}"))
                                break
                            settle, found = s.examine(call, identity, slot, payload, sent, got)
                            if any(f.load_sensitive for f in found):
                                slow.append(Outcome(call, identity, settle, found, sent, payload))
                            for f in found:
                                f.args = f"[{label}] {f.args}"
                                if not f.load_sensitive:
                                    s.report.add(f)
                            s.report.calls += 1
                            if (problem := await s.ping()) is not None:
                                s.report.add(Failure(handler.short, identity, label, "ping", problem))
                            now = await asyncio.to_thread(snapshot, victim)
                            if now != baseline:
                                check, what = describe_change(baseline, now)
                                s.report.add(Failure(handler.short, identity, f"[{label}] {call.label}", check, what))
                                baseline = now
                    finally:
                        await tab.close()
            await s.confirm_alone(slow, slot, label="in the sequence")
        return s.report

    started = time.monotonic()
    report = run_async(sequences)
    report.seconds = time.monotonic() - started
    report.write("event-handler-sequences")
    print("\n" + report.summary())
    assert not report.failures, report.summary()
