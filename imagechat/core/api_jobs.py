"""The OpenAI-compatible Images API's domain: which models this server offers under which names, the request
checked field by field as OpenAI checks it, submitting it through `jobs.submit` (the chat's own path: validation,
rate limit, budget, queue, worker, storage, gallery) with its Idempotency-Key, and the result in OpenAI's
ImagesResponse shape. The HTTP side (auth, bodies, waiting on the progress bus, SSE) is api/openai_compat.py.

Model ids: `imagechat-offline` (the procedural painter) always; the OpenAI image models the server offers
(OPENAI_IMAGE_MODEL, OPENAI_EXTRA_IMAGE_MODELS) when OPENAI_API_KEY is set; `imagechat-diffusers` with a local
Stable Diffusion folder. A request without `model` gets the configured engine's.

Idempotency: an Idempotency-Key names one request of its owner for good. The key and the job are written in one
transaction (`jobs.submit(record=...)`, a unique index per owner), so a retry, a second tab or a client that
hung up mid-request gets the same job and is never charged twice; the same key with a different body is refused.

Edits: the uploaded image becomes an image of the owner's library (engine "upload", shown in the gallery as the
"before" of the edit) and the edit is the chat's edit of that image, with the mask checked as the mask editor's.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from imagechat.core import codec, jobs, library, masks, organise, previews
from imagechat.core.errors import ImagechatError, InvalidImage, InvalidRequest, NotFound
from imagechat.core.options import engine_choices
from imagechat.core.providers import get_provider
from imagechat.core.request import QUALITIES, ImageRequest
from imagechat.core.styles import STYLES
from imagechat.core.text import clean_text
from imagechat.db import session_scope
from imagechat.models import ApiJob, GenerationJob, Image, JobStatus, UsageEntry
from imagechat.settings import Settings, get_settings

OFFLINE_MODEL = "imagechat-offline"
DIFFUSERS_MODEL = "imagechat-diffusers"
UPLOAD_ENGINE = "upload"
UPLOAD_MODEL = "uploaded through the API"
GENERATION, EDIT = "generation", "edit"
FORMATS = ("png", "jpeg", "webp")
OPENAI_MAX_N = 10
MAX_IMAGE_BYTES = 50 * 1024 * 1024  # OpenAI's limit for one input image
MAX_IDEMPOTENCY_KEY = 255
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")
_SIZE = re.compile(r"(\d{1,5})x(\d{1,5})")
GENERATE_FIELDS = {"model", "prompt", "n", "size", "quality", "output_format", "output_compression", "background",
                   "moderation", "user", "safety_identifier", "stream", "partial_images", "response_format",
                   "style", "seed"}  # the last two are imagechat's own (the SDK's extra_body)
EDIT_FIELDS = (GENERATE_FIELDS - {"moderation"}) | {"input_fidelity"}


class InvalidParam(InvalidRequest):
    """A request field OpenAI's API would refuse: 400 with the field's name as `param`."""

    def __init__(self, message: str, param: str | None, code: str = "invalid_value"):
        super().__init__(message, code=code)
        self.param = param


class UnknownModel(NotFound):
    code = "model_not_found"
    param = "model"


class IdempotencyMismatch(InvalidRequest):
    code = "idempotency_key_reused"


def shown(value: object, limit: int = 40) -> str:
    """A client's value echoed in a message: one clean line (no control characters or lone surrogates), cut short."""
    return clean_text(str(value))[:limit]


# ---------------------------------------------------------------- models


@dataclass(frozen=True)
class ApiModel:
    id: str
    engine: str
    model: str | None  # the OpenAI model; None: the engine's only one


def served_models(settings: Settings | None = None) -> list[ApiModel]:
    """The models this server makes images with, the configured engine's first."""
    out = []
    for choice in engine_choices(settings):
        if choice.name == "openai":
            out += [ApiModel(m, "openai", m) for m in choice.models]
        elif choice.name == "diffusers":
            out.append(ApiModel(DIFFUSERS_MODEL, "diffusers", None))
        else:
            out.append(ApiModel(OFFLINE_MODEL, "offline", None))
    return out


def resolve_model(name: object) -> ApiModel:
    models = served_models()
    if name is None:
        return models[0]
    found = next((m for m in models if m.id == name), None) if isinstance(name, str) else None
    if found is None:
        raise UnknownModel(f"The model `{shown(name, 80)}` does not exist on this server. Models: "
                           f"{', '.join(m.id for m in models)} (GET /v1/models lists them).")
    return found


# ---------------------------------------------------------------- the request, checked as OpenAI checks it


@dataclass(frozen=True)
class ApiRequest:
    kind: str  # GENERATION | EDIT
    model: ApiModel
    prompt: str
    n: int = 1
    size: tuple[int, int] | None = None  # None: "auto"
    quality: str = "auto"
    output_format: str = "png"
    output_compression: int | None = None
    stream: bool = False
    partial_images: int = 0
    style: str | None = None
    seed: int | None = None
    source: bytes | None = field(default=None, repr=False)  # edits: the uploaded image
    mask: bytes | None = field(default=None, repr=False)  # edits: the uploaded mask, as sent

    def fingerprint(self) -> str:
        """What makes two requests the same one (how the answer is delivered, stream or not, does not)."""
        facts = {"kind": self.kind, "model": self.model.id, "prompt": self.prompt, "n": self.n, "size": self.size,
                 "quality": self.quality, "output_format": self.output_format,
                 "output_compression": self.output_compression, "style": self.style, "seed": self.seed,
                 "source": codec.sha256_hex(self.source) if self.source is not None else None,
                 "mask": codec.sha256_hex(self.mask) if self.mask is not None else None}
        return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


def _choice(fields: dict, name: str, allowed: tuple[str, ...], default: str) -> str:
    value = fields.get(name)
    if value is None:
        return default
    if not isinstance(value, str) or value not in allowed:
        listed = ", ".join(f"'{a}'" for a in allowed)
        raise InvalidParam(f"Invalid value: '{shown(value)}'. Supported values are: {listed}.", name)
    return value


def _int(fields: dict, name: str, low: int, high: int, default: int | None) -> int | None:
    value = fields.get(name)
    if value is None:
        return default
    if type(value) is not int or not low <= value <= high:
        raise InvalidParam(f"Invalid '{name}': expected an integer between {low} and {high}.", name)
    return value


def _size(value: object) -> tuple[int, int] | None:
    if value is None or value == "auto":
        return None
    match = _SIZE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidParam(f"Invalid size '{shown(value)}': use 'auto' or WIDTHxHEIGHT, for example "
                           "'1024x1024'.", "size")
    return int(match[1]), int(match[2])


def parse(fields: dict, *, kind: str = GENERATION, source: bytes | None = None,
          mask: bytes | None = None) -> ApiRequest:
    """The request's fields (JSON, or a form's text fields with numbers and booleans already typed) checked one by
    one, or InvalidParam / UnknownModel naming the field. What only the engine knows (which sizes it makes, how
    many images at once) is checked by `submit`."""
    allowed = EDIT_FIELDS if kind == EDIT else GENERATE_FIELDS
    for name in fields:
        if name not in allowed:
            raise InvalidParam(f"Unknown parameter: '{shown(name)}'.", shown(name), "unknown_parameter")
    prompt = fields.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidParam("Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter")
    model = resolve_model(fields.get("model"))
    if fields.get("response_format") not in (None, "b64_json"):
        raise InvalidParam("imagechat returns images as Base64 only: leave out 'response_format' or set it to "
                           "'b64_json' (as GPT image models do).", "response_format")
    _choice(fields, "background", ("auto", "opaque"), "auto")  # the engines here paint opaque images
    _choice(fields, "moderation", ("low", "auto"), "auto")
    _choice(fields, "input_fidelity", ("low", "high"), "low")
    for name in ("user", "safety_identifier"):
        if fields.get(name) is not None and not isinstance(fields[name], str):
            raise InvalidParam(f"Invalid type for '{name}': expected a string.", name, "invalid_type")
    stream = fields.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise InvalidParam("Invalid type for 'stream': expected a boolean.", "stream", "invalid_type")
    style = fields.get("style")
    if style is not None and (not isinstance(style, str) or style not in STYLES):
        raise InvalidParam(f"Unknown style; choose one of: {', '.join(STYLES)}.", "style")
    seed = fields.get("seed")
    if seed is not None and (type(seed) is not int or not 0 <= seed < 2**63):
        raise InvalidParam("Invalid 'seed': expected an integer between 0 and 2^63-1.", "seed")
    return ApiRequest(
        kind=kind, model=model, prompt=prompt, n=_int(fields, "n", 1, OPENAI_MAX_N, 1),
        size=_size(fields.get("size")), quality=_choice(fields, "quality", QUALITIES, "auto"),
        output_format=_choice(fields, "output_format", FORMATS, "png"),
        output_compression=_int(fields, "output_compression", 0, 100, None), stream=bool(stream),
        partial_images=_int(fields, "partial_images", 0, 3, 0), style=style, seed=seed, source=source, mask=mask)


def check_idempotency_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not _IDEMPOTENCY_KEY.fullmatch(value):
        raise InvalidParam(f"The Idempotency-Key header must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII "
                           "characters without spaces.", None, "invalid_idempotency_key")
    return value


# ---------------------------------------------------------------- submitting


@dataclass(frozen=True)
class Submitted:
    job_id: uuid.UUID
    replayed: bool  # an earlier request with the same Idempotency-Key made it


def _existing(owner_id: int, key: str, fingerprint: str) -> uuid.UUID | None:
    with session_scope() as s:
        row = s.exec(select(ApiJob).where(ApiJob.owner_id == owner_id, ApiJob.idempotency_key == key)).first()
    if row is None:
        return None
    if row.fingerprint != fingerprint:
        raise IdempotencyMismatch("This Idempotency-Key was already used for a different request. Use a new key "
                                  "for a new request (the same key only repeats the same request).")
    return row.job_id


def _engine_request(spec: ApiRequest, source_size: tuple[int, int] | None) -> ImageRequest:
    """The chat's ImageRequest for this API request, with the sizes and counts the engine makes checked here, so
    the error names the field."""
    settings = get_settings()
    provider = get_provider(spec.model.engine, model=spec.model.model)
    if spec.size is None:
        width, height = provider.closest_size(*source_size) if source_size else (1024, 1024)
    else:
        width, height = spec.size
        if not provider.accepts_size(width, height):
            sizes = ", ".join(f"'{w}x{h}'" for w, h in provider.capabilities.sizes)
            raise InvalidParam(f"Invalid size '{width}x{height}': the model {spec.model.id} makes {sizes} or "
                               "'auto'.", "size")
    max_n = min(provider.capabilities.max_n, settings.max_images_per_request)
    if spec.n > max_n:
        raise InvalidParam(f"Invalid 'n': this server makes 1 to {max_n} images per request.", "n",
                           "integer_above_max_value")
    if len(spec.prompt) > settings.max_prompt_chars:
        raise InvalidParam(f"Invalid 'prompt': {len(spec.prompt)} characters; this server takes at most "
                           f"{settings.max_prompt_chars}.", "prompt", "string_above_max_length")
    request = ImageRequest(prompt=spec.prompt, style=spec.style, width=width, height=height, n=spec.n, seed=spec.seed,
                           quality=spec.quality, engine=spec.model.engine, model=spec.model.model)
    return jobs.validate(request, provider)  # refuses what the chat refuses, before anything is stored


def _source_and_mask(spec: ApiRequest) -> tuple[codec.ImageInfo, bytes | None]:
    """The uploaded image's facts and the mask as core.masks makes it (None: no mask, or all of it painted)."""
    settings = get_settings()
    if spec.source is None or not spec.source:
        raise InvalidParam("Missing required parameter: 'image'.", "image", "missing_required_parameter")
    if len(spec.source) > MAX_IMAGE_BYTES:
        raise InvalidParam("Invalid 'image': file too large (max 50 MB).", "image", "invalid_image_format")
    try:
        info = codec.inspect(spec.source, max_pixels=settings.max_image_pixels)
    except InvalidImage as exc:
        raise InvalidParam(f"Invalid 'image': {exc.user_message}", "image", "invalid_image_format") from None
    if info.format not in FORMATS:
        raise InvalidParam("Invalid 'image': supported file formats are 'image/jpeg', 'image/png' and 'image/webp'.",
                           "image", "invalid_image_format")
    if spec.mask is None:
        return info, None
    try:
        return info, masks.check(spec.mask, (info.width, info.height), max_pixels=settings.max_image_pixels)
    except ImagechatError as exc:
        if exc.code == "mask_full":  # every pixel may change: OpenAI takes that; here it is an edit without a mask
            return info, None
        raise InvalidParam(_MASK_MESSAGES.get(exc.code, "Invalid 'mask'."), "mask", "invalid_image_format") from None


_MASK_MESSAGES = {
    "mask_empty": "Invalid 'mask': the file is empty.",
    "mask_too_large": "Invalid 'mask': file too large (max 4 MB).",
    "mask_not_png": "Invalid 'mask': the mask must be a PNG image.",
    "mask_size": "Invalid mask image format - mask size does not match image size.",
    "mask_no_alpha": "Invalid mask image format - the mask has no alpha channel (its fully transparent pixels "
                     "mark the area to change).",
    "mask_blank": "Invalid 'mask': no pixel is fully transparent, so nothing would change.",
    "invalid_image": "Invalid 'mask': the file is not a PNG image that can be read.",
}


def _import_source(owner_id: int, data: bytes, prompt: str) -> uuid.UUID:
    """The uploaded image as an image of the owner's library: what the edit changes (and its "before")."""
    item = library.NewImage(stored=library.prepare(data), seed=None, revised_prompt=None)
    library.upload([item])
    try:
        with session_scope() as s:
            (image_id,) = library.add_images(s, owner_id=owner_id, job_id=None, prompt=prompt, style=None,
                                             engine=UPLOAD_ENGINE, model=UPLOAD_MODEL, conversation_id=None,
                                             parent_image_id=None, new_images=[item])
    except BaseException:
        library.discard([item])
        raise
    return image_id


def submit(owner_id: int, spec: ApiRequest, *, api_key_id: int | None = None,
           idempotency_key: str | None = None) -> Submitted:
    """Queue the request as a job of `owner_id`, or find the job an earlier request with the same Idempotency-Key
    made. Raises what jobs.submit raises (InvalidRequest, RateLimited, BudgetExceeded, ServiceUnavailable), plus
    InvalidParam / IdempotencyMismatch. A refused request leaves nothing behind (an uploaded source is removed)."""
    fingerprint = spec.fingerprint()
    if idempotency_key is not None and (found := _existing(owner_id, idempotency_key, fingerprint)) is not None:
        return Submitted(found, True)
    info, mask = _source_and_mask(spec) if spec.kind == EDIT else (None, None)
    request = _engine_request(spec, (info.width, info.height) if info else None)
    source_id = _import_source(owner_id, spec.source, request.prompt) if spec.kind == EDIT else None

    def record(s, job: GenerationJob) -> None:
        s.add(ApiJob(job_id=job.id, owner_id=owner_id, api_key_id=api_key_id, idempotency_key=idempotency_key,
                     fingerprint=fingerprint, kind=spec.kind, model=spec.model.id, output_format=spec.output_format,
                     output_compression=spec.output_compression))
        s.flush()  # a second request with the same key stops here, before any reservation

    try:
        job_id = jobs.submit(owner_id, request, source_image_id=source_id, engine=spec.model.engine, mask=mask,
                             record=record)
    except IntegrityError:  # the same key, submitted at the same moment by another request: that one won
        _forget_source(owner_id, source_id)
        found = _existing(owner_id, idempotency_key, fingerprint) if idempotency_key else None
        if found is None:
            raise
        return Submitted(found, True)
    except BaseException:
        _forget_source(owner_id, source_id)
        raise
    return Submitted(job_id, False)


def _forget_source(owner_id: int, source_id: uuid.UUID | None) -> None:
    if source_id is not None:
        organise.delete_images(owner_id, [source_id])  # soft delete: the workers purge it with the others


# ---------------------------------------------------------------- reading a job and its result


@dataclass(frozen=True)
class JobState:
    job_id: uuid.UUID
    kind: str
    model: str
    output_format: str
    output_compression: int | None
    status: str
    percent: float
    stage: str
    error: str | None
    error_code: str | None
    created_at: datetime
    finished_at: datetime | None
    width: int
    height: int
    quality: str
    cost_usd: float

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"


def job_state(owner_id: int, job_id: object) -> JobState:
    """One of the owner's API jobs; NotFound for anything else (another user's job, a chat job, a guess)."""
    if not isinstance(job_id, uuid.UUID):
        try:
            job_id = uuid.UUID(str(job_id)) if len(str(job_id)) <= 64 else None
        except ValueError:
            job_id = None
    if job_id is None:
        raise NotFound("No such image job.")
    with session_scope() as s:
        row = s.exec(select(ApiJob, GenerationJob).join(GenerationJob, GenerationJob.id == ApiJob.job_id)
                     .where(ApiJob.job_id == job_id, ApiJob.owner_id == owner_id,
                            GenerationJob.owner_id == owner_id)).first()
    if row is None:
        raise NotFound("No such image job.")
    api, job = row
    params = job.params or {}
    return JobState(job_id=job.id, kind=api.kind, model=api.model, output_format=api.output_format,
                    output_compression=api.output_compression, status=job.status, percent=job.percent,
                    stage=job.stage, error=job.error, error_code=job.error_code, created_at=job.created_at,
                    finished_at=job.finished_at, width=int(params.get("width", 0)), height=int(params.get("height", 0)),
                    quality=str(params.get("quality", "auto")), cost_usd=job.cost_usd)


def encode_for(data: bytes, fmt: str, compression: int | None, *, stored_mime: str | None = None) -> str:
    """Image bytes as Base64 in the format the client asked for (the stored bytes as they are when they already
    are that format and no compression was asked for)."""
    if stored_mime == codec.MIME[fmt] and compression is None:
        return codec.to_b64(data)
    quality = 90 if compression is None else max(1, compression)
    return codec.to_b64(codec.convert(data, fmt, quality=quality))


def _usage(raw: dict | None) -> dict:
    """OpenAI's usage object from what the engine reported (zeros for the engines here that count no tokens)."""
    raw = raw if isinstance(raw, dict) else {}

    def num(value) -> int:
        return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0

    details = raw.get("input_tokens_details") if isinstance(raw.get("input_tokens_details"), dict) else {}
    out_details = raw.get("output_tokens_details") if isinstance(raw.get("output_tokens_details"), dict) else {}
    input_tokens, output_tokens = num(raw.get("input_tokens")), num(raw.get("output_tokens"))
    return {"input_tokens": input_tokens,
            "input_tokens_details": {"image_tokens": num(details.get("image_tokens")),
                                     "text_tokens": num(details.get("text_tokens"))},
            "output_tokens": output_tokens,
            "total_tokens": num(raw.get("total_tokens")) or input_tokens + output_tokens,
            "output_tokens_details": {"image_tokens": num(out_details.get("image_tokens")) or output_tokens,
                                      "text_tokens": num(out_details.get("text_tokens"))}}


@dataclass(frozen=True)
class ApiImage:
    image_id: uuid.UUID
    b64_json: str
    revised_prompt: str | None
    width: int
    height: int


@dataclass(frozen=True)
class ApiResult:
    state: JobState
    images: list[ApiImage]
    usage: dict
    cost_usd: float

    def extra(self) -> dict:
        """imagechat's own facts, as a field OpenAI's SDK keeps without complaint (its models allow extra fields)."""
        return {"job_id": str(self.state.job_id), "cost_usd": round(self.cost_usd, 6), "model": self.state.model,
                "image_ids": [str(i.image_id) for i in self.images]}

    def response(self) -> dict:
        """The body of an ImagesResponse (POST /v1/images/generations or /edits)."""
        first = self.images[0] if self.images else None
        body = {"created": int((self.state.finished_at or self.state.created_at).timestamp()),
                "data": [{"b64_json": i.b64_json, "revised_prompt": i.revised_prompt} for i in self.images],
                "background": "opaque", "output_format": self.state.output_format,
                "size": f"{first.width}x{first.height}" if first else self.state.size,
                "usage": self.usage, "imagechat": self.extra()}
        if self.state.quality != "auto":
            body["quality"] = self.state.quality
        return body


def result(owner_id: int, job_id: uuid.UUID) -> ApiResult:
    """The finished job's images in the asked format, its usage and its cost (the ledger's settled charge).
    NotFound unless it is one of the owner's API jobs; InvalidRequest when it has not succeeded."""
    state = job_state(owner_id, job_id)
    if state.status != JobStatus.SUCCEEDED:
        raise InvalidRequest("This job has no images: it has not succeeded.", code="not_succeeded")
    with session_scope() as s:
        ids = s.exec(select(Image.id).where(Image.job_id == state.job_id, Image.owner_id == owner_id,
                                            Image.deleted_at.is_(None)).order_by(Image.index_in_job)).all()
        usage = s.exec(select(UsageEntry.usage).where(UsageEntry.job_id == state.job_id)).first()
    images = []
    for image_id in ids:
        try:
            meta, data = library.image_bytes(owner_id, image_id)
        except NotFound:  # deleted in the gallery meanwhile
            continue
        images.append(ApiImage(image_id, encode_for(data, state.output_format, state.output_compression,
                                                    stored_mime=meta.mime),
                               meta.revised_prompt, meta.width, meta.height))
    return ApiResult(state, images, _usage(usage), state.cost_usd)


_PREVIEW_NUMBER = re.compile(r"[?&]v=(\d{1,6})$")  # core.urls.preview_url: a number per preview


def preview_b64(job_id: uuid.UUID, preview_url: str, fmt: str) -> str | None:
    """The preview a progress event announced (by its URL's number; core.previews keeps the first few by number),
    in the asked format; None when it is no longer kept."""
    match = _PREVIEW_NUMBER.search(preview_url or "")
    data = previews.get_numbered(str(job_id), int(match[1])) if match else None
    return codec.to_b64(codec.convert(data, fmt, quality=80)) if data else None
