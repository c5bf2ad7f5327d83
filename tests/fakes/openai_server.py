"""An OpenAI-compatible fake of the Images API over real HTTP on 127.0.0.1.

Faithful where our code depends on it: the wire format the official SDK parses (JSON responses,
SSE `image_generation.*` / `image_edit.*` events with the SDK's field names), bearer auth,
OpenAI's error bodies and status codes, per-model size rules, and real images (Pillow) in the
requested size and format. Errors can be scripted per server or per prompt so tests and the
running e2e app can trigger them:

- script: `fake.script("429:retry_after=1", "429:retry_after=1")` -> the next two image requests
  get 429 with retry-after and x-ratelimit-* headers. Specs: `429[:retry_after=S,retry_after_ms=MS]`,
  `quota` (429 insufficient_quota), `500`/`502`/`503`, `401`, `hang[:S]` (answer only after S
  seconds, default 3600; the handler ends when the client hangs up), `malformed` (200 with a body
  that is not JSON / an SSE event that is not JSON), `drop[:K]` (close the connection after K
  stream events, or before any response), `refuse[:policy]`.
- default_fault: applied to every image request when the script is empty ("persistent 500").
- prompt keywords: `[refuse]` (moderation_blocked), `[refuse:policy]` (content_policy_violation),
  `[fail:SPEC]` always, `[fail:SPEC*K]` for the first K requests with that prompt, `[slow:S]`
  (S seconds before the answer and between stream events).
- latency_s before every answer (with latency_max_s: a delay drawn uniformly from latency_s..latency_max_s for
  each request, as a real API's answers vary), event_delay_s between stream events.

Models follow imagechat's table (imagechat/core/providers/image_models.py): each model takes exactly its
sizes and qualities (400 with OpenAI's error body otherwise), usage is priced consistently with the table,
and a model past its shutdown date answers 404 model_not_found, judged on `fake.today` (None: today, UTC).
`GET /v1/models` and `GET /v1/models/{id}` list the models still served, each with its `shutdown_date`
(YYYY-MM-DD or null, as the real API); `fake.model_shutdowns = {"gpt-image-2": date(...)}` overrides a
date (None removes one), and `fake.models_fault = "500"` (any fault spec) makes the listing fail.

Chat: `POST /v1/chat/completions` (tests/fakes/fake_chat.py) answers what the test scripted:
`fake.script_chat(text="Sure! ", tool=("create_image", {"prompt": "a cat"}))`, one entry per HTTP
request (`fault="500"` scripts an error instead); with nothing scripted it answers a short text.
Streams token by token (`chat_delay_s` between chunks); `fake.chat_requests()` holds each request's
messages and tools. `chat_default_fault` applies when the chat script is empty.

In-process: `with FakeOpenAI() as fake: AsyncOpenAI(base_url=fake.base_url, api_key="sk-test")`.
Standalone: `python -m tests.fakes.openai_server --port 0 [--port-file F]`; it prints
`FAKE_OPENAI_BASE_URL=http://127.0.0.1:N/v1`, and `/_fake/{requests,reset,script,config,health}`
let an e2e test read the request log and set faults over HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import math
import random
import re
import signal
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from PIL import Image
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from imagechat.core.providers import image_models
from imagechat.core.providers.openai_pricing import chat_shutdown
from tests.fakes import fake_chat, fake_images
from tests.fakes.asgi_h11 import H11Server, ServerThread

STANDARD_SIZES = tuple(f"{w}x{h}" for w, h in image_models.STANDARD_SIZES)
FORMATS = ("png", "jpeg", "webp")
DEFAULT_MODEL = image_models.DEFAULT_MODEL  # what a request without "model" gets
# `created` of the models /v1/models lists (their release days; the rest get the table's check date).
RELEASED = {"gpt-image-1": date(2025, 4, 23), "gpt-image-1-mini": date(2025, 10, 6),
            "gpt-image-1.5": date(2025, 12, 16), "gpt-image-2": date(2026, 4, 21),
            "gpt-image-2.5-flare": date(2026, 9, 8), "gpt-image-2.5-sunburst": date(2026, 9, 8)}
INPUT_IMAGE_TOKENS = {"low": 323, "high": 2000}  # per input image, by input_fidelity (approximation)
GENERATE_FIELDS = {"model", "prompt", "n", "size", "quality", "output_format", "output_compression", "background",
                   "moderation", "user", "safety_identifier", "stream", "partial_images"}
EDIT_FIELDS = (GENERATE_FIELDS - {"moderation"}) | {"input_fidelity"}
MAX_IMAGES, MAX_IMAGE_BYTES, MAX_MASK_BYTES = 16, 50 * 1024 * 1024, 4 * 1024 * 1024


@dataclass
class Fault:
    kind: str  # rate_limit | quota | server_error | unauthorized | hang | malformed | drop | refuse
    status: int = 0
    retry_after: float | None = None
    retry_after_ms: int | None = None
    seconds: float = 3600.0
    after: int = 0
    code: str = "moderation_blocked"
    spec: str = ""


def parse_fault(spec: str) -> Fault:
    """`429:retry_after=1`, `500`, `hang:5`, `malformed`, `drop:1`, `refuse:policy`, `quota`, `401`."""
    name, _, arg = spec.strip().partition(":")
    kv = dict(p.split("=", 1) for p in arg.split(",") if "=" in p)
    if name == "429":
        ra = kv.get("retry_after", arg if arg and "=" not in arg else None)
        return Fault("rate_limit", 429, float(ra) if ra is not None else None,
                     int(kv["retry_after_ms"]) if "retry_after_ms" in kv else None, spec=spec)
    if name == "quota":
        return Fault("quota", 429, spec=spec)
    if name.isdigit() and int(name) >= 500:
        return Fault("server_error", int(name), spec=spec)
    if name == "401":
        return Fault("unauthorized", 401, spec=spec)
    if name == "hang":
        return Fault("hang", seconds=float(arg or 3600), spec=spec)
    if name == "malformed":
        return Fault("malformed", 200, spec=spec)
    if name == "drop":
        return Fault("drop", after=int(arg or 0), spec=spec)
    if name == "refuse":
        return Fault("refuse", 400, code="content_policy_violation" if arg == "policy" else "moderation_blocked",
                     spec=spec)
    raise ValueError(f"unknown fault spec {spec!r}")


@dataclass
class RecordedRequest:
    index: int
    method: str
    path: str
    t: float  # time.monotonic() when the request arrived (compare intervals, not wall-clock)
    headers: dict[str, str]
    params: dict[str, Any] = field(default_factory=dict)
    files: list[dict] = field(default_factory=list)  # {"field", "filename", "content_type", "size"}
    retry_count: int = 0  # the SDK's x-stainless-retry-count header
    status: int | None = None
    fault: str | None = None

    def public(self) -> dict:
        data = asdict(self)
        if "authorization" in data["headers"]:
            data["headers"]["authorization"] = "Bearer ***"
        return data


class ApiError(Exception):
    def __init__(self, status: int, message: str, type_: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type_, param, code
        self.headers = headers or {}

    def response(self) -> Response:
        body = {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}
        return JSONResponse(body, status_code=self.status, headers={**_common_headers(), **self.headers})


def _common_headers() -> dict[str, str]:
    return {"x-request-id": f"req_{uuid.uuid4().hex}", "openai-version": "2020-10-01",
            "openai-processing-ms": "12", "x-ratelimit-limit-requests": "50",
            "x-ratelimit-remaining-requests": "49", "x-ratelimit-reset-requests": "1.2s"}


_KEYWORD = re.compile(r"\[(refuse|fail|slow)(?::([^\]]*))?\]")


class FakeOpenAI:
    def __init__(self, *, api_keys: set[str] | None = None, latency_s: float = 0.0, event_delay_s: float = 0.0,
                 default_fault: str | None = None, port: int = 0, chat_delay_s: float = 0.0,
                 today: date | None = None, latency_max_s: float | None = None):
        self.api_keys = api_keys  # None: any non-empty bearer token is accepted
        self.chat_delay_s = chat_delay_s
        self.chat_default_fault: Fault | None = None
        self.chat_models = set(fake_chat.CHAT_MODELS)
        self._chat_script: list[fake_chat.ChatReply] = []
        self.latency_s, self.event_delay_s = latency_s, event_delay_s
        self._defaults = (latency_s, event_delay_s, default_fault)
        self.latency_max_s = self._latency_max_default = latency_max_s  # None: always latency_s
        self._chat_defaults = (chat_delay_s, None)
        self.default_fault = parse_fault(default_fault) if default_fault else None
        self.today = today  # the day model shutdowns are judged on; None: the real (UTC) date
        self._today_default = today
        self.model_shutdowns: dict[str, date | None] = {}  # overrides of the table's shutdown dates
        self.shut_down_models: set[str] = set()  # answered 404 whatever the date
        self.models_fault: str | None = None  # a fault spec for GET /v1/models
        self._lock = threading.Lock()
        self._script: list[Fault] = []
        self._log: list[RecordedRequest] = []
        self._prompt_hits: dict[tuple[str, str], int] = {}
        self._server = H11Server(self, "127.0.0.1", port)
        self._runner: ServerThread | None = None

    # ---- knobs and log (thread-safe: the server runs in its own thread) ----
    def script(self, *specs: str) -> None:
        faults = [parse_fault(s) for s in specs]
        with self._lock:
            self._script.extend(faults)

    def script_chat(self, text: str | None = None, tool: tuple[str, dict | str] | None = None, *,
                    tools: list[tuple[str, dict | str]] | None = None, fault: str | None = None,
                    finish_reason: str | None = None, delay_s: float | None = None, times: int = 1) -> None:
        """Queue what the chat model answers to the next request(s): text and/or tool calls, or a fault.

        Tool arguments may be a dict (sent as JSON) or a raw string (e.g. malformed JSON)."""
        if fault is not None:
            parse_fault(fault)  # fail fast on a typo
        calls = ([tool] if tool else []) + list(tools or [])
        reply = fake_chat.ChatReply(text=text, tool_calls=calls, fault=fault, finish_reason=finish_reason,
                                    delay_s=delay_s)
        with self._lock:
            self._chat_script.extend([reply] * times)

    def set_chat_default_fault(self, spec: str | None) -> None:
        self.chat_default_fault = parse_fault(spec) if spec else None

    def chat_script_left(self) -> int:
        with self._lock:
            return len(self._chat_script)

    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == "/v1/chat/completions"]

    def fail_next(self, spec: str, times: int = 1) -> None:
        self.script(*[spec] * times)

    def set_default_fault(self, spec: str | None) -> None:
        self.default_fault = parse_fault(spec) if spec else None

    def reset(self) -> None:
        """Empty the log and the script; knobs back to the constructor's values."""
        with self._lock:
            self._script.clear()
            self._log.clear()
            self._prompt_hits.clear()
            self._chat_script.clear()
        self.latency_s, self.event_delay_s, fault = self._defaults
        self.latency_max_s = self._latency_max_default
        self.set_default_fault(fault)
        self.chat_delay_s, self.chat_default_fault = self._chat_defaults
        self.today = self._today_default
        self.model_shutdowns = {}
        self.shut_down_models = set()
        self.models_fault = None

    def latency(self) -> float:
        """This request's delay before the answer: latency_s, or a uniform draw up to latency_max_s."""
        low, high = self.latency_s, self.latency_max_s
        return random.uniform(low, high) if high is not None and high > low else low

    # ---- models and their lifecycle (the table, plus this fake's overrides) ----
    def current_day(self) -> date:
        return self.today or datetime.now(UTC).date()

    def shutdown_date(self, name: str) -> date | None:
        row = image_models.lookup(name)
        family = row.name if row else name
        for key in (name, family):
            if key in self.model_shutdowns:
                return self.model_shutdowns[key]
        return row.shutdown if row else chat_shutdown(name)

    def served(self, name: str) -> bool:
        """Whether requests naming this image model work (a table model not yet shut down)."""
        if image_models.lookup(name) is None or name in self.shut_down_models:
            return False
        shutdown = self.shutdown_date(name)
        return shutdown is None or self.current_day() < shutdown

    def listed_models(self) -> list[dict]:
        """The /v1/models objects: every image and chat model still served, with its shutdown date."""
        day = self.current_day()
        names = [m for m in image_models.IMAGE_MODELS if self.served(m)]
        names += sorted(m for m in self.chat_models
                        if (when := self.shutdown_date(m)) is None or day < when)
        out = []
        for name in names:
            released = RELEASED.get(name, image_models.CHECKED)
            created = int(datetime(released.year, released.month, released.day, tzinfo=UTC).timestamp())
            shutdown = self.shutdown_date(name)
            out.append({"id": name, "object": "model", "created": created, "owned_by": "system",
                        "shutdown_date": shutdown.isoformat() if shutdown else None})
        return out

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._log)

    def image_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.startswith("/v1/images/")]

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # ---- lifecycle ----
    def start(self) -> FakeOpenAI:
        self._runner = ServerThread(self._server, "fake-openai").start()
        return self

    def stop(self) -> None:
        if self._runner is not None:
            self._runner.stop()
            self._runner = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- ASGI ----
    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        path, method = scope["path"], scope["method"]
        if path.startswith("/_fake/"):
            response = await self._admin(request, path[len("/_fake/"):])
        elif method == "POST" and path in ("/v1/images/generations", "/v1/images/edits"):
            await self._images(request, send, edit=path.endswith("edits"))
            return
        elif method == "POST" and path == "/v1/chat/completions":
            await self._chat(request, send)
            return
        elif method == "GET" and (path == "/v1/models" or path.startswith("/v1/models/")):
            await self._models(request, send, path[len("/v1/models/"):] if path != "/v1/models" else None)
            return
        else:
            response = ApiError(404, f"Invalid URL ({method} {path})").response()
        await response(scope, receive, send)

    async def _admin(self, request: Request, action: str) -> Response:
        if action == "health":
            return JSONResponse({"ok": True})
        if action == "requests":
            return JSONResponse({"requests": [r.public() for r in self.requests]})
        if action == "reset":
            self.reset()
            return JSONResponse({"ok": True})
        body = await request.json() if request.method == "POST" else {}
        try:
            if action == "script":
                self.script(*body.get("faults", []))
            elif action == "script_chat":
                for r in body.get("replies", []):
                    self.script_chat(r.get("text"), tuple(r["tool"]) if r.get("tool") else None,
                                     tools=[tuple(t) for t in r.get("tools", [])], fault=r.get("fault"),
                                     finish_reason=r.get("finish_reason"), delay_s=r.get("delay_s"))
            elif action == "config":
                self.latency_s = float(body.get("latency_s", self.latency_s))
                if "latency_max_s" in body:
                    self.latency_max_s = None if body["latency_max_s"] is None else float(body["latency_max_s"])
                self.event_delay_s = float(body.get("event_delay_s", self.event_delay_s))
                if "default_fault" in body:
                    self.set_default_fault(body["default_fault"])
                self.chat_delay_s = float(body.get("chat_delay_s", self.chat_delay_s))
                if "chat_default_fault" in body:
                    self.set_chat_default_fault(body["chat_default_fault"])
                if "today" in body:
                    self.today = date.fromisoformat(body["today"]) if body["today"] else None
                if "model_shutdowns" in body:
                    self.model_shutdowns = {k: date.fromisoformat(v) if v else None
                                            for k, v in body["model_shutdowns"].items()}
                if "models_fault" in body:
                    if body["models_fault"]:
                        parse_fault(body["models_fault"])
                    self.models_fault = body["models_fault"] or None
            else:
                return JSONResponse({"error": f"unknown action {action}"}, status_code=404)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"ok": True})

    async def _images(self, request: Request, send, *, edit: bool) -> None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.scope["headers"]}
        with self._lock:
            rec = RecordedRequest(len(self._log), request.method, request.url.path, time.monotonic(), headers,
                                  retry_count=int(headers.get("x-stainless-retry-count", "0") or 0))
            self._log.append(rec)
        try:
            params, sources, mask = await (_read_edit(request, rec) if edit else _read_json(request))
            rec.params = {k: v for k, v in params.items()}
            self._check_auth(headers.get("authorization", ""))
            prompt = params.get("prompt") if isinstance(params.get("prompt"), str) else ""
            delay, latency = self._prompt_delay(prompt), self.latency()
            if latency or delay:
                await asyncio.sleep(max(latency, delay))
            fault = self._pick_fault(prompt)
            rec.fault = fault.spec if fault else None
            stream_fault = await self._apply_fault(fault, send, rec, bool(params.get("stream")))
            if stream_fault == "done":
                return
            job = _validate(params, edit, sources, mask, self)
            for m in _KEYWORD.finditer(prompt):
                if m.group(1) == "refuse":
                    raise ApiError(400, "Your request was rejected as a result of our safety system. "
                                        "Your request may contain content that is not allowed by our safety system.",
                                   "image_generation_user_error" if m.group(2) != "policy" else "invalid_request_error",
                                   None, "content_policy_violation" if m.group(2) == "policy" else "moderation_blocked")
        except ApiError as err:
            rec.status = err.status
            await err.response()(request.scope, request.receive, send)
            return
        event_delay = max(self.event_delay_s, self._prompt_delay(prompt))
        rec.status = 200
        await _answer(send, job, prompt, sources, mask, edit, event_delay, stream_fault)

    async def _models(self, request: Request, send, model_id: str | None) -> None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.scope["headers"]}
        with self._lock:
            rec = RecordedRequest(len(self._log), request.method, request.url.path, time.monotonic(), headers,
                                  retry_count=int(headers.get("x-stainless-retry-count", "0") or 0))
            self._log.append(rec)
        try:
            self._check_auth(headers.get("authorization", ""))
            if latency := self.latency():
                await asyncio.sleep(latency)
            fault = parse_fault(self.models_fault) if self.models_fault else None
            rec.fault = fault.spec if fault else None
            if await self._apply_fault(fault, send, rec, False) == "done":
                return
            listed = self.listed_models()
            if model_id is None:
                body: dict = {"object": "list", "data": listed}
            else:
                body = next((m for m in listed if m["id"] == model_id), None)
                if body is None:
                    raise ApiError(404, f"The model '{model_id}' does not exist", param="model",
                                   code="model_not_found")
        except ApiError as err:
            rec.status = err.status
            await err.response()(request.scope, request.receive, send)
            return
        rec.status = 200
        await _send_raw(send, 200, json.dumps(body).encode(), "application/json")

    async def _chat(self, request: Request, send) -> None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.scope["headers"]}
        with self._lock:
            rec = RecordedRequest(len(self._log), request.method, request.url.path, time.monotonic(), headers,
                                  retry_count=int(headers.get("x-stainless-retry-count", "0") or 0))
            self._log.append(rec)
        try:
            params, _, _ = await _read_json(request)
            rec.params = params
            self._check_auth(headers.get("authorization", ""))
            if latency := self.latency():
                await asyncio.sleep(latency)
            try:
                fake_chat.validate(params, self.chat_models)
            except fake_chat.BadRequest as err:  # invalid requests do not use up the script
                raise ApiError(err.status, err.message, err.type, err.param, err.code) from None
            with self._lock:
                reply = self._chat_script.pop(0) if self._chat_script else None
            if reply is None:
                reply = fake_chat.ChatReply(text=fake_chat.DEFAULT_REPLY)
            fault = parse_fault(reply.fault) if reply.fault else self.chat_default_fault
            rec.fault = fault.spec if fault else None
            stream = bool(params.get("stream"))
            stream_fault = await self._apply_fault(fault, send, rec, stream)
            if stream_fault == "done":
                return
            if reply.fault:  # a scripted fault that answered normally (e.g. hang): the default text
                reply = fake_chat.ChatReply(text=fake_chat.DEFAULT_REPLY)
            try:
                fake_chat.check_script(reply, params)
            except fake_chat.BadRequest as err:
                rec.fault = "script_mismatch"
                raise ApiError(err.status, err.message, err.type, err.param, err.code) from None
        except ApiError as err:
            rec.status = err.status
            await err.response()(request.scope, request.receive, send)
            return
        rec.status = 200
        if not stream:
            await _send_raw(send, 200, json.dumps(fake_chat.completion(reply, params)).encode(), "application/json")
            return
        delay = self.chat_delay_s if reply.delay_s is None else reply.delay_s
        await send({"type": "http.response.start", "status": 200, "headers": _header_list(
            {**_common_headers(), "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"})})
        events = [fake_chat.sse(c) for c in fake_chat.chunks(reply, params)]
        if stream_fault is not None and stream_fault.kind == "malformed":
            events.insert(min(1, len(events)), b'data: {"id": "chatcmpl-x", "object": "chat.completion.ch\n\n')
        for sent, payload in enumerate(events):
            if stream_fault is not None and stream_fault.kind == "drop" and sent >= stream_fault.after:
                await send({"type": "fake.abort"})
            if delay and sent:
                await asyncio.sleep(delay)
            await send({"type": "http.response.body", "body": payload, "more_body": True})
        await send({"type": "http.response.body", "body": fake_chat.DONE, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    def _check_auth(self, authorization: str) -> None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "You didn't provide an API key. You need to provide your API key in an "
                                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
        if self.api_keys is not None and token not in self.api_keys:
            shown = token[:3] + "*" * 8 + token[-4:] if len(token) > 8 else "***"
            raise ApiError(401, f"Incorrect API key provided: {shown}. You can find your API key at "
                                "https://platform.openai.com/account/api-keys.", code="invalid_api_key")

    def _prompt_delay(self, prompt: str) -> float:
        for m in _KEYWORD.finditer(prompt):
            if m.group(1) == "slow":
                return float(m.group(2) or 1)
        return 0.0

    def _pick_fault(self, prompt: str) -> Fault | None:
        with self._lock:
            if self._script:
                return self._script.pop(0)
            for m in _KEYWORD.finditer(prompt):
                if m.group(1) == "fail" and m.group(2):
                    spec, _, times = m.group(2).partition("*")
                    key = (prompt, m.group(2))
                    hits = self._prompt_hits[key] = self._prompt_hits.get(key, 0) + 1
                    if not times or hits <= int(times):
                        return parse_fault(spec)
        return self.default_fault

    async def _apply_fault(self, fault: Fault | None, send, rec: RecordedRequest, stream: bool):
        """Returns "done" when the fault answered, else a stream fault to apply later (or None)."""
        if fault is None:
            return None
        if fault.kind == "rate_limit":
            extra = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1s",
                     "x-ratelimit-limit-tokens": "100000", "x-ratelimit-remaining-tokens": "0",
                     "x-ratelimit-reset-tokens": "1s"}
            if fault.retry_after is not None:
                extra["retry-after"] = f"{fault.retry_after:g}"
            if fault.retry_after_ms is not None:
                extra["retry-after-ms"] = str(fault.retry_after_ms)
            raise ApiError(429, "Rate limit reached for images in organization org-fake on requests per min "
                                "(RPM): Limit 5, Used 5, Requested 1. Please try again in 1s.",
                           "requests", None, "rate_limit_exceeded", extra)
        if fault.kind == "quota":
            raise ApiError(429, "You exceeded your current quota, please check your plan and billing details.",
                           "insufficient_quota", None, "insufficient_quota")
        if fault.kind == "server_error":
            raise ApiError(fault.status, "The server had an error while processing your request. Sorry about that!",
                           "server_error")
        if fault.kind == "unauthorized":
            raise ApiError(401, "Incorrect API key provided.", code="invalid_api_key")
        if fault.kind == "refuse":
            raise ApiError(400, "Your request was rejected as a result of our safety system.",
                           "image_generation_user_error", None, fault.code)
        if fault.kind == "hang":
            await asyncio.sleep(fault.seconds)
            return None
        if fault.kind == "malformed" and not stream:
            rec.status = 200
            await _send_raw(send, 200, b'{"created": 1700000000, "data": [{"b64_json": "iVBORw0', "application/json")
            return "done"
        if fault.kind == "drop" and not stream:
            await send({"type": "fake.abort"})
        return fault


async def _read_json(request: Request):
    try:
        params = json.loads(await request.body())
        if not isinstance(params, dict):
            raise ValueError
    except ValueError:
        raise ApiError(400, "We could not parse the JSON body of your request. (HINT: This likely means you "
                            "aren't using your HTTP library correctly.)") from None
    return params, [], None


async def _read_edit(request: Request, rec: RecordedRequest):
    async with request.form(max_files=64, max_fields=64) as form:
        return await _split_form(form, rec)


async def _split_form(form, rec: RecordedRequest):
    params: dict[str, Any] = {}
    sources: list[tuple[str, bytes]] = []
    mask: bytes | None = None
    for key, value in form.multi_items():
        if hasattr(value, "read"):
            data = await value.read()
            rec.files.append({"field": key, "filename": value.filename, "content_type": value.content_type,
                              "size": len(data)})
            if key in ("image", "image[]"):
                sources.append((key, data))
            elif key == "mask":
                mask = data
            else:
                raise ApiError(400, f"Unknown parameter: '{key}'.", param=key, code="unknown_parameter")
        else:
            params[key] = _coerce(value)
    return params, sources, mask


def _coerce(value: str):
    if value in ("true", "false"):
        return value == "true"
    return int(value) if re.fullmatch(r"-?\d+", value) else value


@dataclass
class _Job:
    model: str
    n: int
    width: int
    height: int
    quality: str
    fmt: str
    compression: int | None
    background: str
    partial_images: int
    stream: bool
    input_fidelity: str


def _validate(p: dict, edit: bool, sources, mask, fake: FakeOpenAI) -> _Job:
    allowed = EDIT_FIELDS if edit else GENERATE_FIELDS
    for key in p:
        if key not in allowed:
            raise ApiError(400, f"Unknown parameter: '{key}'.", param=key, code="unknown_parameter")
    model = p.get("model") or DEFAULT_MODEL
    row = image_models.lookup(model) if isinstance(model, str) else None
    if row is None:
        raise ApiError(404, f"The model `{model}` does not exist or you do not have access to it.",
                       code="model_not_found")
    if not fake.served(model):
        raise ApiError(404, f"The model `{model}` has been deprecated. Learn more: "
                            "https://platform.openai.com/docs/deprecations", code="model_not_found")
    prompt = p.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ApiError(400, "Missing required parameter: 'prompt'.", param="prompt", code="missing_required_parameter")
    if len(prompt) > 32000:
        raise ApiError(400, "Invalid 'prompt': string too long. Expected a string with maximum length 32000.",
                       param="prompt", code="string_above_max_length")
    n = p.get("n", 1)
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 10:
        which = "below minimum" if isinstance(n, int) and n < 1 else "above maximum"
        raise ApiError(400, f"Invalid 'n': integer {which}"
                            " value. Expected a value between 1 and 10.", param="n",
                       code="integer_below_min_value" if isinstance(n, int) and n < 1 else "integer_above_max_value")
    quality = _choice(p, "quality", row.qualities, "auto")
    fmt = _choice(p, "output_format", FORMATS, "png")
    background = _choice(p, "background", ("transparent", "opaque", "auto"), "auto")
    _choice(p, "moderation", ("low", "auto"), "auto")
    input_fidelity = _choice(p, "input_fidelity", ("low", "high"), "low")
    if background == "transparent" and fmt == "jpeg":
        raise ApiError(400, "Transparent background is not supported for output format 'jpeg'.", param="background")
    compression = p.get("output_compression")
    if compression is not None and (not isinstance(compression, int) or not 0 <= compression <= 100):
        raise ApiError(400, "Invalid 'output_compression': expected an integer between 0 and 100.",
                       param="output_compression", code="invalid_value")
    partial = p.get("partial_images", 0) or 0
    if not isinstance(partial, int) or not 0 <= partial <= 3:
        raise ApiError(400, "Invalid 'partial_images': expected an integer between 0 and 3.",
                       param="partial_images", code="invalid_value")
    source_size = None
    if edit:
        if not sources:
            raise ApiError(400, "Missing required parameter: 'image'.", param="image",
                           code="missing_required_parameter")
        if len(sources) > MAX_IMAGES:
            raise ApiError(400, f"Invalid 'image': too many images, expected at most {MAX_IMAGES}.", param="image")
        for _, data in sources:
            source_size = source_size or _image_size(data, "image")
            if len(data) > MAX_IMAGE_BYTES:
                raise ApiError(400, "Invalid 'image': file too large (max 50MB).", param="image")
        if mask is not None:  # the API's rules: a PNG under 4 MB with an alpha channel, the first image's size
            if len(mask) > MAX_MASK_BYTES:
                raise ApiError(400, "Invalid 'mask': file too large (max 4MB).", param="mask",
                               code="invalid_image_format")
            mask_img = _open(mask, "mask")
            if mask_img.format != "PNG":
                raise ApiError(400, "Invalid 'mask': the mask must be a PNG image.", param="mask",
                               code="invalid_image_format")
            if mask_img.size != source_size or "A" not in mask_img.getbands():
                raise ApiError(400, "Invalid mask image format - mask size does not match image size "
                                    "or it has no alpha channel.", param="mask", code="invalid_image_format")
    width, height = _size(p.get("size", "auto"), model, source_size)
    return _Job(model, n, width, height, quality, fmt, compression, background, partial, bool(p.get("stream")),
                input_fidelity)


def _choice(p: dict, key: str, allowed: tuple[str, ...], default: str) -> str:
    value = p.get(key, default) or default
    if value not in allowed:
        listed = ", ".join(f"'{a}'" for a in allowed)
        raise ApiError(400, f"Invalid value: '{value}'. Supported values are: {listed}.", param=key,
                       code="invalid_value")
    return value


def _size(size: str, model: str, source: tuple[int, int] | None) -> tuple[int, int]:
    """The API's size rule, written out here from the table's numbers (not by calling its accepts())."""
    if size == "auto":
        if source is None:
            return 1024, 1024
        aspect = source[0] / source[1]
        return min(((int(w), int(h)) for w, h in (s.split("x") for s in STANDARD_SIZES)),
                   key=lambda wh: abs(math.log(wh[0] / wh[1] / aspect)))
    if size in STANDARD_SIZES:
        w, h = size.split("x")
        return int(w), int(h)
    match = re.fullmatch(r"(\d+)x(\d+)", str(size))
    rule = image_models.model_for(model).sizes
    if rule.flexible and match:
        w, h = int(match[1]), int(match[2])
        if (w > 0 and h > 0 and w % rule.step == 0 and h % rule.step == 0
                and 1 / rule.max_aspect <= w / h <= rule.max_aspect and max(w, h) <= rule.max_edge
                and rule.min_pixels <= w * h <= rule.max_pixels):
            return w, h
        raise ApiError(400, f"Invalid size '{size}': width and height must be multiples of {rule.step}, aspect "
                            f"ratio between 1:{rule.max_aspect:g} and {rule.max_aspect:g}:1, at most "
                            f"{rule.max_edge} per edge and {rule.min_pixels}..{rule.max_pixels} pixels.",
                       param="size", code="invalid_value")
    raise ApiError(400, f"Invalid value: '{size}'. Supported values are: '1024x1024', '1024x1536', "
                        "'1536x1024', and 'auto'.", param="size", code="invalid_value")


def _open(data: bytes, param: str) -> Image.Image:
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except Exception:
        raise ApiError(400, f"Invalid file '{param}': unsupported image. Supported file formats are "
                            "'image/jpeg', 'image/png', and 'image/webp'.", param=param,
                       code="invalid_image_format") from None
    if img.format not in ("PNG", "JPEG", "WEBP"):
        raise ApiError(400, f"Invalid file '{param}': unsupported mimetype. Supported file formats are "
                            "'image/jpeg', 'image/png', and 'image/webp'.", param=param, code="invalid_image_format")
    return img


def _image_size(data: bytes, param: str) -> tuple[int, int]:
    return _open(data, param).size


def _usage(job: _Job, prompt: str, n_images: int, n_inputs: int) -> dict:
    text = max(1, math.ceil(len(prompt) / 4))
    image_in = n_inputs * INPUT_IMAGE_TOKENS[job.input_fidelity]
    quality = "medium" if job.quality == "auto" else job.quality  # what this fake reports auto as
    out = image_models.expected_output_tokens(job.model, quality, job.width, job.height) * n_images
    return {"input_tokens": text + image_in, "input_tokens_details": {"text_tokens": text, "image_tokens": image_in},
            "output_tokens": out, "total_tokens": text + image_in + out,
            "output_tokens_details": {"image_tokens": out, "text_tokens": 0}}


def _render(job: _Job, prompt: str, sources, mask, edit: bool, index: int) -> Image.Image:
    if edit:
        imgs = [Image.open(io.BytesIO(d)) for _, d in sources]
        return fake_images.edit(imgs, prompt, job.width, job.height, Image.open(io.BytesIO(mask)) if mask else None)
    return fake_images.draw_prompt(prompt, job.width, job.height, index=index,
                                   transparent=job.background == "transparent")


def _b64(img: Image.Image, job: _Job) -> str:
    return base64.b64encode(fake_images.encode(img, job.fmt, job.compression)).decode()


async def _answer(send, job: _Job, prompt: str, sources, mask, edit: bool, event_delay: float,
                  stream_fault: Fault | None) -> None:
    quality = "medium" if job.quality == "auto" else job.quality
    meta = {"size": f"{job.width}x{job.height}", "quality": quality, "output_format": job.fmt,
            "background": "transparent" if job.background == "transparent" else "opaque"}
    if not job.stream:
        images = [await asyncio.to_thread(lambda i=i: _b64(_render(job, prompt, sources, mask, edit, i), job))
                  for i in range(job.n)]
        body = {"created": int(time.time()), "data": [{"b64_json": b} for b in images], **meta,
                "usage": _usage(job, prompt, job.n, len(sources))}
        await _send_raw(send, 200, json.dumps(body).encode(), "application/json")
        return
    prefix = "image_edit" if edit else "image_generation"
    await send({"type": "http.response.start", "status": 200, "headers": _header_list(
        {**_common_headers(), "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"})})
    sent = 0

    async def emit(event: dict | bytes) -> None:
        nonlocal sent
        if stream_fault is not None and stream_fault.kind == "drop" and sent >= stream_fault.after:
            await send({"type": "fake.abort"})
        if event_delay:
            await asyncio.sleep(event_delay)
        if isinstance(event, dict):
            payload = f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()
        else:
            payload = event
        await send({"type": "http.response.body", "body": payload, "more_body": True})
        sent += 1

    if stream_fault is not None and stream_fault.kind == "malformed":
        await emit(f"event: {prefix}.partial_image\ndata: {{\"type\": \"{prefix}.partial_ima\n\n".encode())
    for i in range(job.n):
        final = await asyncio.to_thread(_render, job, prompt, sources, mask, edit, i)
        for k in range(job.partial_images):
            b64 = await asyncio.to_thread(
                lambda k=k, final=final: _b64(fake_images.preview(final, k, job.partial_images), job))
            await emit({"type": f"{prefix}.partial_image", "b64_json": b64, "partial_image_index": k,
                        "created_at": int(time.time()), **meta})
        b64 = await asyncio.to_thread(_b64, final, job)
        usage = _usage(job, prompt, 1, len(sources))
        usage.pop("output_tokens_details")
        await emit({"type": f"{prefix}.completed", "b64_json": b64, "created_at": int(time.time()), **meta,
                    "usage": usage})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


def _header_list(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.encode(), v.encode()) for k, v in headers.items()]


async def _send_raw(send, status: int, body: bytes, content_type: str) -> None:
    headers = {**_common_headers(), "content-type": content_type, "content-length": str(len(body))}
    await send({"type": "http.response.start", "status": status, "headers": _header_list(headers)})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake OpenAI Images API on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed, and written to --port-file)")
    parser.add_argument("--port-file", help="write the chosen port here once listening")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before every answer")
    parser.add_argument("--latency-max", type=float, help="with --latency: each answer waits a uniform draw "
                                                          "between the two (e.g. --latency 2 --latency-max 5)")
    parser.add_argument("--event-delay", type=float, default=0.0)
    parser.add_argument("--fail", action="append", default=[], help="scripted fault spec, repeatable")
    parser.add_argument("--default-fault")
    parser.add_argument("--api-key", action="append", help="accept only these keys (repeatable)")
    args = parser.parse_args(argv)
    fake = FakeOpenAI(api_keys=set(args.api_key) if args.api_key else None, latency_s=args.latency,
                      latency_max_s=args.latency_max,
                      event_delay_s=args.event_delay, default_fault=args.default_fault, port=args.port)
    fake.script(*args.fail)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await fake._server.start()
        if args.port_file:
            with open(args.port_file, "w") as fh:
                fh.write(str(fake.port))
        print(f"FAKE_OPENAI_BASE_URL={fake.base_url}", flush=True)
        await stop.wait()
        await fake._server.close()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
