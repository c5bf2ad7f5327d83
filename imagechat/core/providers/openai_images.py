"""The OpenAI engine: GPT image models through the official `openai` SDK, with real streamed previews.

Retries: the SDK's own retry loop (verified in openai/_base_client.py) retries 408/409/429/5xx,
timeouts and connection errors with exponential backoff (0.5 s doubling to 8 s, jitter) and
honours `retry-after-ms` / `retry-after` up to 120 s, so `max_retries=settings.openai_max_retries`
is all we need; tests count the requests the fake server saw. It retries only until a response
starts: a stream that breaks midway raises TransientEngineError and the job layer decides, since
the interrupted generation has probably been billed already. 400/401/403/404 are never retried.

Streaming: with n == 1 we stream (`partial_images` previews, then the final image with `usage`).
Stream events carry no image index, so n > 1 uses one non-streaming call with coarse progress.

The API key lives only in the SDK client: every message we raise or log is built by us, server
text is scrubbed of the key, and SDK exceptions are not chained onto ours."""

from __future__ import annotations

import base64
import binascii
import io
import logging
import re
from datetime import UTC, date, datetime

import openai
from PIL import Image

from imagechat.core.errors import (
    ContentRefused,
    EngineUnavailable,
    ImagechatError,
    InvalidImage,
    InvalidRequest,
    TransientEngineError,
)
from imagechat.core.providers import image_models
from imagechat.core.providers.base import Capabilities, GeneratedImage, GenerationResult, Progress, ProgressCallback
from imagechat.core.providers.openai_client import make_client
from imagechat.core.request import ImageRequest
from imagechat.core.styles import STYLES, check_style, styled_prompt
from imagechat.settings import Settings

log = logging.getLogger(__name__)

QUALITIES = ("low", "medium", "high", "auto")
OUTPUT_FORMATS = ("png", "jpeg", "webp")
API_MAX_N = 10
REFUSAL_CODES = {"moderation_blocked", "content_policy_violation"}
REFUSED = "Your request was declined by the image service's safety system. Try rephrasing the prompt."
_UPLOAD_TYPES = {"PNG": ("png", "image/png"), "JPEG": ("jpg", "image/jpeg"), "WEBP": ("webp", "image/webp")}


class OpenAIProvider:
    name = "openai"

    def __init__(self, settings: Settings, client: openai.AsyncOpenAI | None = None, *, today: date | None = None):
        """`today` (default: the UTC date) is the day the model's shutdown is judged on."""
        if client is None and settings.openai_api_key is None:
            raise EngineUnavailable("The OpenAI engine needs OPENAI_API_KEY in the server's environment.")
        self.settings = settings
        self.model = settings.openai_image_model
        # A shut-down model fails here, at first use, naming its replacement (not later as an API 404).
        try:
            self.spec = image_models.check_usable(self.model, today or datetime.now(UTC).date())
        except EngineUnavailable as err:
            log.error("%s", err.user_message)
            raise
        if not self.spec.known:
            log.warning("OPENAI_IMAGE_MODEL=%s is not in the image model table: standard sizes only, "
                        "priced as the most expensive known model", self.model[:80])
        self._secret = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
        self._owns_client = client is None
        self._client = client or make_client(settings)
        self.capabilities = Capabilities(
            sizes=self.spec.presets,
            styles=STYLES,
            max_n=max(1, min(API_MAX_N, settings.max_images_per_request)),
            edits=self.spec.edits,
            previews=True,
            output_formats=OUTPUT_FORMATS,
        )

    def __repr__(self) -> str:  # never the client (it holds the key)
        return f"OpenAIProvider(model={self.model!r})"

    async def aclose(self) -> None:
        """Close the HTTP connection pool (only a client we created; a passed-in one is the caller's)."""
        if self._owns_client:
            await self._client.close()

    def accepts_size(self, width: int, height: int) -> bool:
        return self.spec.accepts_size(width, height)

    def closest_size(self, width: int, height: int) -> tuple[int, int]:
        return self.spec.snap_size(width, height)

    def estimate_cost(self, request: ImageRequest) -> float:
        width, height = self.closest_size(request.width, request.height)
        return image_models.estimate_upper_bound(
            self.model, quality=request.quality, width=width, height=height, n=max(1, request.n),
            prompt=styled_prompt(request.prompt, check_style(request.style)),
            input_images=1 if request.source_image is not None else 0,
        )

    # ---- generation ----
    async def generate(self, request: ImageRequest, on_progress: ProgressCallback) -> GenerationResult:
        style = self._validate(request)
        width, height = self.closest_size(request.width, request.height)
        args: dict = {
            "model": self.model,
            "prompt": styled_prompt(request.prompt, style),
            "n": request.n,
            "size": f"{width}x{height}",
            "quality": request.quality,
            "output_format": request.output_format,
        }
        if request.user:
            args["safety_identifier"] = request.user
        edit = request.source_image is not None
        if edit:
            args["image"] = _upload(request.source_image)
            if request.mask is not None:  # only the painted area (the mask's transparent pixels) changes
                args["mask"] = _mask_upload(request.mask, args["image"][1])
        elif request.mask is not None:
            raise InvalidRequest("A painted area needs the image it was painted on.")
        call = self._client.images.edit if edit else self._client.images.generate
        verb = "Editing" if edit else "Drawing"
        await on_progress(Progress(1.0, f"Sending the request to OpenAI ({self.model})"))
        try:
            if request.n == 1:
                images, usage, quality = await self._streamed(call, args, verb, on_progress)
            else:
                await on_progress(Progress(5.0, f"{verb} {request.n} images with OpenAI"))
                images, usage, quality = await self._whole(call, args)
        except ImagechatError:
            raise
        except openai.APIStatusError as err:
            raise self._status_error(err) from None
        except openai.APITimeoutError:
            log.warning("OpenAI images request timed out after retries (timeout %.1fs)", self.settings.openai_timeout_s)
            raise TransientEngineError("The image service took too long to answer. Please try again.") from None
        except openai.APIConnectionError:
            log.warning("OpenAI images request could not connect or the connection broke")
            raise TransientEngineError("Could not reach the image service. Please try again.") from None
        except openai.APIError as err:  # an error event inside a stream
            raise self._stream_error(err) from None
        except (_Malformed, ValueError) as err:
            # Invalid JSON (JSONDecodeError), a body of the wrong shape, bad Base64 or not an image.
            log.warning("OpenAI images response could not be read: %s", type(err).__name__)
            raise TransientEngineError("The image service sent a response that could not be read.") from None
        if len(images) != request.n:
            raise TransientEngineError(f"The image service returned {len(images)} of {request.n} images.")
        if usage:
            cost = image_models.cost_from_usage(self.model, usage)
        else:  # no token counts: the list price of what came back
            cost = len(images) * image_models.per_image_price(self.model, quality or request.quality, width, height)
        await on_progress(Progress(100.0, "Done"))
        return GenerationResult(images=images, engine=self.name, model=self.model, cost_usd=cost, usage=usage)

    async def _streamed(self, call, args: dict, verb: str, on_progress: ProgressCallback):
        partials = self.settings.openai_partial_images
        stream = await call(**args, stream=True, partial_images=partials)
        images, usage, quality = [], {}, None
        await on_progress(Progress(5.0, f"{verb} with OpenAI"))
        async with stream:
            async for event in stream:
                kind = getattr(event, "type", None) or ""
                if kind.endswith(".partial_image"):
                    k = event.partial_image_index + 1
                    preview = _decode(event.b64_json)
                    percent = 5.0 + 85.0 * k / (partials + 1)
                    await on_progress(Progress(percent, f"Refining image (preview {k} of {partials})", preview))
                elif kind.endswith(".completed"):
                    images.append(GeneratedImage(data=_decode(event.b64_json)))
                    usage = event.usage.model_dump() if event.usage else {}
                    quality = event.quality
        return images, usage, quality

    async def _whole(self, call, args: dict):
        response = await call(**args)
        images = [GeneratedImage(data=_decode(d.b64_json), revised_prompt=d.revised_prompt)
                  for d in response.data or []]
        usage = response.usage.model_dump(exclude_none=True) if response.usage else {}
        return images, usage, response.quality

    # ---- validation and errors ----
    def _validate(self, request: ImageRequest) -> str | None:
        if not request.prompt or not request.prompt.strip():
            raise InvalidRequest("Please describe the picture you want.")
        if len(request.prompt) > self.settings.max_prompt_chars:
            raise InvalidRequest(f"Prompts are limited to {self.settings.max_prompt_chars} characters.")
        if not 1 <= request.n <= self.capabilities.max_n:
            raise InvalidRequest(f"OpenAI makes 1 to {self.capabilities.max_n} images at a time here.")
        if request.quality not in QUALITIES or request.quality not in self.spec.qualities:
            raise InvalidRequest(f"Unknown quality {request.quality!r}; choose one of {', '.join(QUALITIES)}.")
        if request.output_format not in OUTPUT_FORMATS:
            raise InvalidRequest(f"Unsupported output format {request.output_format!r}.")
        return check_style(request.style)

    def _status_error(self, err: openai.APIStatusError) -> ImagechatError:
        status, code = err.status_code, getattr(err, "code", None)
        log.warning("OpenAI images request failed: status=%s code=%s type=%s request_id=%s message=%s",
                    status, code, getattr(err, "type", None), err.request_id, self._scrub(_message(err)))
        if status == 400 and code in REFUSAL_CODES:
            return ContentRefused(REFUSED)
        if status == 401:
            return EngineUnavailable("The OpenAI API key was rejected. Check OPENAI_API_KEY.")
        if status == 403:
            return EngineUnavailable(f"This OpenAI account may not use {self.model} "
                                     "(some image models need a verified organization).")
        if status == 404:
            return EngineUnavailable(f"The image model {self.model!r} is not available to this OpenAI account. "
                                     f"Set OPENAI_IMAGE_MODEL to a current model such as "
                                     f"{image_models.DEFAULT_MODEL}.")
        if status == 400 and _param(err) == "mask":
            return InvalidRequest("The image service refused the painted area "
                                  f"({self._scrub(_message(err))}). Paint it again and press Apply.")
        if status == 429 and code == "insufficient_quota":
            return EngineUnavailable("The OpenAI account has run out of credit. Check its plan and billing.")
        if status == 429 or status >= 500 or status in (408, 409):
            what = "is rate limiting us" if status == 429 else "had a temporary problem"
            return TransientEngineError(f"The image service {what}. Please try again shortly.",
                                        retry_after_s=_retry_after(err.response.headers))
        return InvalidRequest(f"The image service rejected the request: {self._scrub(_message(err))}")

    def _stream_error(self, err: openai.APIError) -> ImagechatError:
        code = getattr(err, "code", None)
        log.warning("OpenAI images stream reported an error: code=%s message=%s", code, self._scrub(_message(err)))
        if code in REFUSAL_CODES:
            return ContentRefused(REFUSED)
        return TransientEngineError("The image service failed while drawing. Please try again.")

    def _scrub(self, text: str) -> str:
        if self._secret:
            text = text.replace(self._secret, "[redacted]")
        return re.sub(r"sk-[A-Za-z0-9_\-*]{6,}", "sk-[redacted]", text)[:500]



def _message(err: openai.APIError) -> str:
    body = err.body if isinstance(err.body, dict) else {}
    return str(body.get("message") or err.message or "")


def _param(err: openai.APIError) -> str | None:
    body = err.body if isinstance(err.body, dict) else {}
    return body.get("param") if isinstance(body.get("param"), str) else getattr(err, "param", None)


def _retry_after(headers) -> float | None:
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        try:
            return float(headers[name]) / divisor
        except (KeyError, TypeError, ValueError):
            continue
    return None


class _Malformed(Exception):
    pass


def _decode(b64: str | None) -> bytes:
    """Base64 -> image bytes, checked to be a readable image (a malformed body is transient)."""
    try:
        data = base64.b64decode(b64 or "", validate=True)
        Image.open(io.BytesIO(data)).verify()
    except Exception as exc:
        raise _Malformed("not an image") from exc
    return data


def _mask_upload(mask: bytes, source: bytes) -> tuple[str, bytes, str]:
    """The mask as the API wants it (a PNG with an alpha channel, the size of the image), checked before any
    request so a mismatch costs nothing and says what to do."""
    try:
        img = Image.open(io.BytesIO(mask))
        fmt, size, bands = img.format, img.size, img.getbands()
        source_size = Image.open(io.BytesIO(source)).size
    except (OSError, ValueError, Image.DecompressionBombError):
        raise InvalidRequest("The painted area could not be read. Paint it again and press Apply.") from None
    if fmt != "PNG" or "A" not in bands:
        raise InvalidRequest("The painted area must be a PNG with transparency. Paint it again and press Apply.")
    if size != source_size:
        raise InvalidRequest(f"The painted area is {size[0]}x{size[1]} pixels but the image is "
                             f"{source_size[0]}x{source_size[1]}. Paint it again and press Apply.")
    return "mask.png", mask, "image/png"


def _upload(source: bytes) -> tuple[str, bytes, str]:
    """The edit endpoint takes PNG, JPEG or WebP; anything else Pillow reads is sent as PNG."""
    try:
        img = Image.open(io.BytesIO(source))
        fmt = img.format
        if fmt in _UPLOAD_TYPES:
            ext, mime = _UPLOAD_TYPES[fmt]
            return f"source.{ext}", source, mime
        buf = io.BytesIO()
        img.save(buf, "PNG")
        return "source.png", buf.getvalue(), "image/png"
    except (OSError, ValueError, binascii.Error, Image.DecompressionBombError):
        raise InvalidImage("The image to edit could not be read.") from None
