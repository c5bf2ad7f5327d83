"""The OpenAI-compatible API on the app's own port: point the official `openai` SDK (or curl) at
`http://127.0.0.1:3000/v1` with an imagechat API key (/settings, or `python -m imagechat keys create`).

- `GET /v1/models`, `GET /v1/models/{id}`: the models this server makes images with (core.api_jobs).
- `POST /v1/images/generations` (JSON) and `POST /v1/images/edits` (multipart: `image`, optional `mask`): the
  request is checked as OpenAI checks it, then goes through `jobs.submit` like a chat request (validation, rate
  limit, budget, queue); a Dramatiq worker makes it and stores it in the owner's gallery. This process never
  generates: it follows the job on the progress bus (PostgreSQL whenever the bus is quiet) and answers with
  OpenAI's ImagesResponse, plus `imagechat: {job_id, cost_usd, model, image_ids}` and `x-imagechat-cost-usd`.
- `stream: true`: Server-Sent Events `image_generation.partial_image` (the job's real previews, at most
  `partial_images`) and `image_generation.completed` (`image_edit.*` for edits), as OpenAI sends them. The
  response starts with the first preview or the end, so a refused prompt is an HTTP error, as with OpenAI.
- `Prefer: respond-async`: 202 at once with the job (`Location: /v1/images/jobs/{id}`); `GET` there answers 202
  while it runs, then exactly what the synchronous call would have answered. `DELETE` cancels it.
- `Idempotency-Key: <any printable ASCII, up to 255>`: the same key from the same user returns the same job, sync
  or async, without a second charge; a client that hangs up leaves the job running and gets it by retrying.

Authentication is `Authorization: Bearer ick_...` only: a session cookie never authenticates /v1 (so a page on
another site cannot use a signed-in browser), and Bearer requests need no same-origin check. Errors have OpenAI's
body `{"error": {"message", "type", "param", "code"}}` and status codes: 401 (no or a wrong key), 403 (the key's
account is disabled), 400 (a bad field, or a refused prompt: `moderation_blocked`), 404 (unknown model or job),
429 (the user's rate limit, with `retry-after`; a spent budget, `insufficient_quota`), 503 (database or Redis away).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from imagechat.core import api_jobs, api_keys, jobs, progress
from imagechat.core.api_jobs import EDIT, GENERATION, ApiRequest, InvalidParam, JobState, UnknownModel
from imagechat.core.errors import (
    BudgetExceeded,
    EngineUnavailable,
    ImagechatError,
    NotFound,
    RateLimited,
    ServiceUnavailable,
)
from imagechat.core.progress import ProgressEvent
from imagechat.core.providers import image_models
from imagechat.models import TERMINAL, JobStatus

log = logging.getLogger(__name__)

MAX_JSON_BYTES = 1024 * 1024
MAX_EDIT_BYTES = api_jobs.MAX_IMAGE_BYTES + 4 * 1024 * 1024 + 256 * 1024  # one image, a mask, the text fields
SYNC_WAIT_S = 900.0  # a synchronous request waits this long for its job, then says where to fetch it
QUIET_S = 5.0  # without an event for this long, PostgreSQL is asked how the job stands
KEEPALIVE_S = 15.0  # an SSE comment this often while a stream waits, so proxies keep it open
_INT_FIELDS = {"n", "output_compression", "partial_images", "seed"}
_NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


class _ClientGone(Exception):
    pass


# ---------------------------------------------------------------- errors in OpenAI's shape


def error(status: int, message: str, type_: str = "invalid_request_error", *, param: str | None = None,
          code: str | None = None, headers: dict[str, str] | None = None, extra: dict | None = None) -> JSONResponse:
    # Never a character JSON in UTF-8 can't carry (a lone surrogate a client sent and a message echoes).
    message = message.encode("utf-8", "replace").decode("utf-8")
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}, **(extra or {})}
    return JSONResponse(body, status_code=status, headers={**_NO_STORE, **(headers or {})})


def refusal(exc: ImagechatError) -> JSONResponse:
    """What a refused request answers (before any job exists)."""
    message = exc.user_message
    if isinstance(exc, UnknownModel):
        return error(404, message, param="model", code="model_not_found")
    if isinstance(exc, InvalidParam):
        return error(400, message, param=exc.param, code=exc.code)
    if isinstance(exc, RateLimited):
        wait = max(1, int(exc.retry_after_s or 1))
        return error(429, message, "requests", code="rate_limit_exceeded",
                     headers={"retry-after": str(wait), "x-ratelimit-reset-requests": f"{wait}s"})
    if isinstance(exc, BudgetExceeded):  # no retry helps before the budget resets: say so to the SDK
        return error(429, message, "insufficient_quota", code="insufficient_quota", headers={"x-should-retry": "false"})
    if isinstance(exc, EngineUnavailable):
        return error(503, message, "server_error", code=exc.code, headers={"x-should-retry": "false"})
    if isinstance(exc, ServiceUnavailable):
        return error(503, message, "server_error", code=exc.code, headers={"retry-after": "30"})
    if isinstance(exc, NotFound):
        return error(404, message, code=exc.code)
    return error(400, message, code=exc.code)  # InvalidRequest, InvalidImage, IdempotencyMismatch


_USER_ERRORS = {"invalid_request", "invalid_image", "source_missing"}


def job_failure(state: JobState) -> JSONResponse:
    """What a job that ended without images answers: the same for the synchronous call, the stream's start and a
    later GET of an asynchronous job. The job already retried what was worth retrying, so the SDK is told not to."""
    extra = {"id": str(state.job_id), "object": "image.job", "status": state.status}
    no_retry = {"x-should-retry": "false", "x-imagechat-job-id": str(state.job_id)}
    if state.status == JobStatus.CANCELLED:
        return error(400, "This image job was cancelled.", code="job_cancelled", headers=no_retry, extra=extra)
    message = state.error or "The image could not be made."
    if state.error_code == "content_refused":
        return error(400, message, "image_generation_user_error", code="moderation_blocked", headers=no_retry,
                     extra=extra)
    if state.error_code in _USER_ERRORS or (state.error_code or "").startswith("mask_"):
        return error(400, message, code=state.error_code, headers=no_retry, extra=extra)
    if state.error_code == "engine_unavailable":
        return error(503, message, "server_error", code=state.error_code, headers=no_retry, extra=extra)
    return error(500, message, "server_error", code=state.error_code, headers=no_retry, extra=extra)


# ---------------------------------------------------------------- who is asking


async def _key_owner(request: Request) -> api_keys.KeyOwner | JSONResponse:
    """The key's owner, from `Authorization: Bearer <key>` only (cookies are never looked at)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return error(401, "You didn't provide an API key. You need to provide your API key in an Authorization "
                          "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY). Create one on the "
                          "settings page of this imagechat.")
    try:
        owner = await asyncio.to_thread(api_keys.authenticate, token)
    except api_keys.KeyOwnerDisabled as exc:
        return error(403, exc.user_message, code=exc.code)
    except ServiceUnavailable as exc:
        return refusal(exc)
    if owner is None:
        return error(401, "Incorrect API key provided. Create a key on the settings page of this imagechat, or "
                          "check that it was not revoked.", code="invalid_api_key")
    return owner


# ---------------------------------------------------------------- models


def _model_object(model: api_jobs.ApiModel) -> dict:
    created = int(datetime(image_models.CHECKED.year, image_models.CHECKED.month, image_models.CHECKED.day)
                  .timestamp())
    return {"id": model.id, "object": "model", "created": created,
            "owned_by": "openai" if model.engine == "openai" else "imagechat"}


async def list_models(request: Request) -> Response:
    owner = await _key_owner(request)
    if isinstance(owner, Response):
        return owner
    models = await asyncio.to_thread(api_jobs.served_models)
    return JSONResponse({"object": "list", "data": [_model_object(m) for m in models]}, headers=_NO_STORE)


async def get_model(request: Request) -> Response:
    owner = await _key_owner(request)
    if isinstance(owner, Response):
        return owner
    wanted = request.path_params["model_id"]
    models = await asyncio.to_thread(api_jobs.served_models)
    found = next((m for m in models if m.id == wanted), None)
    if found is None:
        return error(404, f"The model '{api_jobs.shown(wanted, 80)}' does not exist", param="model",
                     code="model_not_found")
    return JSONResponse(_model_object(found), headers=_NO_STORE)


# ---------------------------------------------------------------- request bodies


class _TooLarge(Exception):
    pass


def _capped(request: Request, limit: int) -> Request:
    """The same request, its body cut off past `limit` bytes (what Content-Length says is not trusted)."""
    total = 0

    async def receive():
        nonlocal total
        message = await request.receive()
        if message["type"] == "http.request":
            total += len(message.get("body", b""))
            if total > limit:
                raise _TooLarge
        return message

    return Request(request.scope, receive)


async def _json_fields(request: Request) -> dict:
    try:
        body = await _capped(request, MAX_JSON_BYTES).body()
    except _TooLarge:
        raise InvalidParam("The request body is too large.", None, "request_too_large") from None
    try:
        fields = json.loads(body)
    except ValueError:
        fields = None
    if not isinstance(fields, dict):
        raise InvalidParam("We could not parse the JSON body of your request. Send a JSON object, with "
                           "Content-Type: application/json.", None, "invalid_json")
    return fields


def _form_value(name: str, value: str):
    if name == "stream":
        return {"true": True, "false": False}.get(value.strip().lower(), value)
    if name in _INT_FIELDS:
        try:
            return int(value)
        except ValueError:
            return value
    return value


async def _edit_fields(request: Request) -> tuple[dict, bytes | None, bytes | None]:
    """The multipart form of an edit: its text fields, the image and the mask."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "multipart/form-data":
        raise InvalidParam("Send an edit as multipart/form-data with the image in the 'image' field (the openai "
                           "SDK does this).", None, "invalid_content_type")
    fields: dict = {}
    images: list[bytes] = []
    mask = None
    try:
        async with _capped(request, MAX_EDIT_BYTES).form(max_files=20, max_fields=40,
                                                         max_part_size=256 * 1024) as form:
            for name, value in form.multi_items():
                if isinstance(value, str):
                    fields[name] = _form_value(name, value)
                elif name in ("image", "image[]"):
                    images.append(await value.read())
                elif name == "mask":
                    mask = await value.read()
                else:
                    raise InvalidParam(f"Unknown parameter: '{api_jobs.shown(name)}'.", api_jobs.shown(name),
                                       "unknown_parameter")
    except _TooLarge:
        raise InvalidParam("Invalid 'image': file too large (max 50 MB, and 4 MB for the mask).", "image",
                           "invalid_image_format") from None
    except (MultiPartException, HTTPException):
        raise InvalidParam("The multipart body of the request could not be read.", None, "invalid_body") from None
    if len(images) > 1:
        raise InvalidParam("imagechat edits one image at a time: send a single 'image'.", "image")
    return fields, images[0] if images else None, mask


# ---------------------------------------------------------------- following a job


class _Watch:
    """The job's progress events from the bus, in order; when the bus is quiet for QUIET_S (or on the first call),
    the job's row in PostgreSQL, the truth, as an event when it has ended."""

    def __init__(self, owner_id: int, job_id: uuid.UUID):
        self.owner_id, self.job_id = owner_id, job_id
        self._sub = progress.Subscriber()
        self._checked = False

    async def __aenter__(self) -> _Watch:
        await self._sub.__aenter__()
        await self._sub.add(str(self.job_id))
        return self

    async def __aexit__(self, *exc) -> None:
        await self._sub.__aexit__(*exc)

    async def _ended(self) -> ProgressEvent | None:
        state = await asyncio.to_thread(api_jobs.job_state, self.owner_id, self.job_id)
        if state.status not in TERMINAL:
            return None
        return ProgressEvent(job_id=str(self.job_id), status=state.status, percent=state.percent, stage=state.stage,
                             error=state.error, error_code=state.error_code)

    async def next(self) -> ProgressEvent:
        if not self._checked:
            self._checked = True
            if (ended := await self._ended()) is not None:
                return ended
        while True:
            event = await self._sub.get(timeout=QUIET_S)
            if event is None:
                if (ended := await self._ended()) is not None:
                    return ended
                continue
            return event  # Subscriber.get gives each event once, in order


async def _disconnected(request: Request) -> None:
    """Returns when the client hangs up (the body was read already, so the next message is the disconnect)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _next_or_gone(watch: _Watch, gone: asyncio.Future, timeout: float | None) -> ProgressEvent | None:
    """The watch's next event; None after `timeout`; _ClientGone when the client hung up first."""
    step = asyncio.ensure_future(watch.next())
    try:
        done, _ = await asyncio.wait({step, gone}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not step.done():
            step.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await step
    if step in done:
        return step.result()
    if gone in done:
        raise _ClientGone
    return None


# ---------------------------------------------------------------- answers


def _job_body(state: JobState) -> dict:
    return {"id": str(state.job_id), "object": "image.job", "status": state.status,
            "created": int(state.created_at.timestamp()), "model": state.model, "kind": state.kind,
            "progress": round(state.percent, 1), "stage": state.stage,
            "imagechat": {"job_id": str(state.job_id), "cost_usd": round(state.cost_usd, 6)}}


def _job_headers(job_id: uuid.UUID, cost: float | None = None) -> dict[str, str]:
    headers = {**_NO_STORE, "x-imagechat-job-id": str(job_id), "x-request-id": f"req_{job_id.hex}"}
    if cost is not None:
        headers["x-imagechat-cost-usd"] = f"{cost:.6f}"
    return headers


async def _final_answer(owner_id: int, job_id: uuid.UUID, *, with_job: bool = False) -> Response:
    """The ended job as the synchronous call answers it: an ImagesResponse, or the error it ended with."""
    state = await asyncio.to_thread(api_jobs.job_state, owner_id, job_id)
    if state.status != JobStatus.SUCCEEDED:
        return job_failure(state)
    result = await asyncio.to_thread(api_jobs.result, owner_id, job_id)
    body = result.response()
    if with_job:
        body = {**_job_body(state), **body}
    return JSONResponse(body, headers=_job_headers(job_id, result.cost_usd))


def _still_running(state: JobState) -> JSONResponse:
    location = f"/v1/images/jobs/{state.job_id}"
    return JSONResponse(_job_body(state), status_code=202,
                        headers={**_job_headers(state.job_id), "Location": location})


def _timed_out(state: JobState) -> JSONResponse:
    location = f"/v1/images/jobs/{state.job_id}"
    return error(504, f"The image job is still running after {SYNC_WAIT_S:.0f} s. Fetch its result later from GET "
                      f"{location}, or repeat the request with the same Idempotency-Key.", "server_error",
                 code="timeout", extra=_job_body(state),
                 headers={**_job_headers(state.job_id), "Location": location, "x-should-retry": "false"})


def _sse(kind: str, data: dict) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode()


def _usage_shares(usage: dict, count: int) -> list[dict]:
    """The job's usage spread over its images' completed events (the input counted once, with the first)."""
    out = []
    for index in range(count):
        share = usage["output_tokens"] // count + (1 if index < usage["output_tokens"] % count else 0)
        inputs = usage["input_tokens"] if index == 0 else 0
        details = usage["input_tokens_details"] if index == 0 else {"image_tokens": 0, "text_tokens": 0}
        out.append({"input_tokens": inputs, "input_tokens_details": details, "output_tokens": share,
                    "total_tokens": inputs + share})
    return out


async def _stream_events(owner_id: int, spec: ApiRequest, job_id: uuid.UUID, watch: _Watch,
                         first: ProgressEvent) -> AsyncIterator[bytes]:
    """The SSE body: a partial image per preview (the first `partial_images`), then a completed event per image, or
    an error event. `watch` is the subscription the caller waited on, so no event falls between the two."""
    prefix = "image_edit" if spec.kind == EDIT else "image_generation"
    state = await asyncio.to_thread(api_jobs.job_state, owner_id, job_id)
    meta = {"background": "opaque", "output_format": spec.output_format, "quality": spec.quality,
            "size": state.size}
    sent, event = 0, first
    while not event.terminal:
        if event.preview_url and sent < spec.partial_images:
            b64 = await asyncio.to_thread(api_jobs.preview_b64, job_id, event.preview_url, spec.output_format)
            if b64:
                yield _sse(f"{prefix}.partial_image", {"type": f"{prefix}.partial_image", "b64_json": b64,
                                                       "partial_image_index": sent, "created_at": int(time.time()),
                                                       **meta})
                sent += 1
        next_event = asyncio.ensure_future(watch.next())
        try:
            while not (await asyncio.wait({next_event}, timeout=KEEPALIVE_S))[0]:
                yield b": keep-alive\n\n"
        finally:  # the client hung up (the generator is closed): stop waiting too
            if not next_event.done():
                next_event.cancel()
        event = next_event.result()
    final = await asyncio.to_thread(api_jobs.job_state, owner_id, job_id)
    if final.status != JobStatus.SUCCEEDED:
        failure = json.loads(job_failure(final).body)
        yield _sse("error", {"type": "error", **failure})
        return
    result = await asyncio.to_thread(api_jobs.result, owner_id, job_id)
    for image, usage in zip(result.images, _usage_shares(result.usage, len(result.images)), strict=True):
        yield _sse(f"{prefix}.completed", {"type": f"{prefix}.completed", "b64_json": image.b64_json,
                                           "created_at": int(time.time()), **meta,
                                           "size": f"{image.width}x{image.height}", "usage": usage,
                                           "imagechat": result.extra()})


class _EventStream(StreamingResponse):
    """An SSE response that ends its job subscription however the response ends (done, failed, or never started
    because the client left first)."""

    def __init__(self, body: AsyncIterator[bytes], watch: _Watch, headers: dict[str, str]):
        super().__init__(body, media_type="text/event-stream", headers=headers)
        self.watch = watch

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.watch.__aexit__(None, None, None)


async def _stream(request: Request, owner_id: int, spec: ApiRequest, job_id: uuid.UUID,
                  gone: asyncio.Future) -> Response:
    """Wait for the first preview (when previews were asked for) or the end before answering, so a job that fails
    at once answers with its HTTP error, then stream the rest on the same subscription."""
    watch = await _Watch(owner_id, job_id).__aenter__()
    handed_over = False
    try:
        while True:
            event = await _next_or_gone(watch, gone, SYNC_WAIT_S)
            if event is None:
                return _timed_out(await asyncio.to_thread(api_jobs.job_state, owner_id, job_id))
            if event.terminal or (spec.partial_images and event.preview_url):
                break
        if event.terminal and event.status != JobStatus.SUCCEEDED:
            return await _final_answer(owner_id, job_id)
        headers = {**_job_headers(job_id), "X-Accel-Buffering": "no"}
        response = _EventStream(_stream_events(owner_id, spec, job_id, watch, event), watch, headers)
        handed_over = True
        return response
    finally:
        if not handed_over:
            await watch.__aexit__(None, None, None)


async def _images(request: Request, kind: str) -> Response:
    owner = await _key_owner(request)
    if isinstance(owner, Response):
        return owner
    prefer = request.headers.get("prefer", "").lower()
    respond_async = "respond-async" in prefer
    try:
        idempotency_key = api_jobs.check_idempotency_key(request.headers.get("idempotency-key"))
        if kind == EDIT:
            fields, source, mask = await _edit_fields(request)
        else:
            fields, source, mask = await _json_fields(request), None, None
        spec = await asyncio.to_thread(api_jobs.parse, fields, kind=kind, source=source, mask=mask)
        if respond_async and spec.stream:
            raise InvalidParam("'stream' and 'Prefer: respond-async' can't be combined: stream the result, or "
                               "fetch it later from GET /v1/images/jobs/{id}.", "stream")
        submitted = await asyncio.to_thread(api_jobs.submit, owner.user_id, spec, api_key_id=owner.key_id,
                                            idempotency_key=idempotency_key)
    except ImagechatError as exc:
        log.info("api image request refused: %s", exc.code, extra={"user_id": owner.user_id})
        return refusal(exc)
    job_id = submitted.job_id
    log.info("api image request: %s job %s%s", kind, job_id, " (idempotent replay)" if submitted.replayed else "",
             extra={"user_id": owner.user_id, "job_id": str(job_id)})
    if respond_async:
        state = await asyncio.to_thread(api_jobs.job_state, owner.user_id, job_id)
        response = _still_running(state)
        response.headers["Preference-Applied"] = "respond-async"
        return response
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        if spec.stream:
            return await _stream(request, owner.user_id, spec, job_id, gone)
        async with _Watch(owner.user_id, job_id) as watch:
            while True:
                event = await _next_or_gone(watch, gone, SYNC_WAIT_S)
                if event is None:  # still running after SYNC_WAIT_S: where to fetch it
                    return _timed_out(await asyncio.to_thread(api_jobs.job_state, owner.user_id, job_id))
                if event.terminal:
                    break
        return await _final_answer(owner.user_id, job_id)
    except _ClientGone:  # the job goes on; a retry with the same Idempotency-Key gets it
        log.info("api client hung up while job %s ran; the job goes on", job_id,
                 extra={"user_id": owner.user_id, "job_id": str(job_id)})
        return Response(status_code=499)
    finally:
        gone.cancel()


async def _guarded(request: Request, handler) -> Response:
    """No stack trace ever reaches a client: an unexpected failure is logged and answered in OpenAI's shape."""
    try:
        return await handler(request)
    except ImagechatError as exc:
        return refusal(exc)
    except Exception:
        log.exception("api request failed: %s %s", request.method, request.url.path)
        return error(500, "The server had an error while processing your request. Try again.", "server_error")


async def generations(request: Request) -> Response:
    return await _guarded(request, lambda r: _images(r, GENERATION))


async def edits(request: Request) -> Response:
    return await _guarded(request, lambda r: _images(r, EDIT))


async def _job(request: Request) -> Response:
    owner = await _key_owner(request)
    if isinstance(owner, Response):
        return owner
    try:
        state = await asyncio.to_thread(api_jobs.job_state, owner.user_id, request.path_params["job_id"])
        if request.method == "DELETE":
            await asyncio.to_thread(jobs.cancel, owner.user_id, state.job_id)
            state = await asyncio.to_thread(api_jobs.job_state, owner.user_id, state.job_id)
            return JSONResponse(_job_body(state), headers=_job_headers(state.job_id))
    except NotFound:
        return error(404, "No such image job (it may belong to another key's account).", param="id",
                     code="not_found")
    if state.status not in TERMINAL:
        return _still_running(state)
    return await _final_answer(owner.user_id, state.job_id, with_job=True)


async def job(request: Request) -> Response:
    return await _guarded(request, _job)


async def unknown(request: Request) -> Response:
    return error(404, f"Invalid URL ({request.method} {api_jobs.shown(request.url.path, 200)})")


routes = [
    Route("/v1/models", list_models, methods=["GET"]),
    Route("/v1/models/{model_id:path}", get_model, methods=["GET"]),
    Route("/v1/images/generations", generations, methods=["POST"]),
    Route("/v1/images/edits", edits, methods=["POST"]),
    Route("/v1/images/jobs/{job_id}", job, methods=["GET", "DELETE"]),
    Route("/v1/{rest:path}", unknown, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
]
