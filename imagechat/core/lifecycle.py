"""Model shutdowns ahead: which configured OpenAI models stop working soon (or already have), for the
admin page.

Two sources, combined: the model tables (providers.image_models, providers.openai_pricing: dates OpenAI
announced when they were checked) and OpenAI's `GET /v1/models`, whose model objects carry an optional
`shutdown_date` (YYYY-MM-DD, or null when none is announced; the SDK's `Model.shutdown_date`). Where
both give a date the earlier one is shown.

/v1/models is read in a background thread and cached per endpoint and key (API_TTL_S; RETRY_S after a
failure), so `upcoming_shutdowns` never waits on the network: before the first answer, or when the API
cannot be reached, it reports from the tables alone. The key never appears in a log line or warning."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from datetime import date

import openai

from imagechat.core.providers import image_models
from imagechat.core.providers.openai_pricing import chat_shutdown
from imagechat.settings import Settings, get_settings

log = logging.getLogger(__name__)

API_TTL_S = 6 * 3600.0
RETRY_S = 600.0
FETCH_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class ShutdownWarning:
    model: str
    kind: str  # "image" | "chat"
    setting: str  # the environment variable that names the model
    shutdown: date
    days_left: int  # 0 or less: already shut down
    replacement: str | None
    source: str  # "table" | "api" | "table+api": where the date comes from
    message: str

    @property
    def past(self) -> bool:
        return self.days_left <= 0


@dataclass
class _Cache:
    dates: dict[str, date | None] | None = None  # model id -> shutdown date, as /v1/models said last
    fetched_at: float | None = None  # time.monotonic() of the last answer
    next_try: float = 0.0
    refreshing: bool = False
    error: str | None = None


_caches: dict[tuple[str, str], _Cache] = {}
_lock = threading.Lock()


def _key(settings: Settings) -> tuple[str, str]:
    secret = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    return settings.openai_base_url or "", hashlib.sha256(secret.encode()).hexdigest()[:16]


def _cache(settings: Settings) -> _Cache:
    with _lock:
        return _caches.setdefault(_key(settings), _Cache())


def clear_cache() -> None:
    with _lock:
        _caches.clear()


def _parse(day: object) -> date | None:
    if not isinstance(day, str) or not day:
        return None
    try:
        return date.fromisoformat(day[:10])
    except ValueError:
        return None


def refresh(settings: Settings | None = None, client: openai.OpenAI | None = None) -> dict[str, date | None]:
    """Read /v1/models now (blocking) and cache what it says; raises the SDK's error when it fails."""
    settings = settings or get_settings()
    cache = _cache(settings)
    own = client is None
    if own:
        if settings.openai_api_key is None:
            return {}
        client = openai.OpenAI(api_key=settings.openai_api_key.get_secret_value(), base_url=settings.openai_base_url,
                               timeout=FETCH_TIMEOUT_S, max_retries=1)
    try:
        dates = {m.id: _parse(getattr(m, "shutdown_date", None)) for m in client.models.list()}
    except Exception as exc:
        with _lock:
            cache.error, cache.next_try = type(exc).__name__, time.monotonic() + RETRY_S
        raise
    finally:
        if own:
            client.close()
    with _lock:
        cache.dates, cache.fetched_at, cache.error = dates, time.monotonic(), None
        cache.next_try = cache.fetched_at + API_TTL_S
    return dates


def _refresh_in_background(settings: Settings) -> None:
    try:
        refresh(settings)
    except Exception as exc:  # never the message: an SDK error may quote the request
        log.warning("could not read model shutdown dates from /v1/models (%s); using the model tables",
                    type(exc).__name__)
    finally:
        cache = _cache(settings)
        with _lock:
            cache.refreshing = False


def api_shutdowns(settings: Settings | None = None) -> dict[str, date | None] | None:
    """What /v1/models said last (None: no answer yet). Starts a background refresh when it is stale;
    never waits for it."""
    settings = settings or get_settings()
    if settings.openai_api_key is None:
        return None
    cache = _cache(settings)
    with _lock:
        start = not cache.refreshing and time.monotonic() >= cache.next_try
        if start:
            cache.refreshing = True
        dates = cache.dates
    if start:
        threading.Thread(target=_refresh_in_background, args=(settings,), name="model-shutdowns",
                         daemon=True).start()
    return dates


def _configured(settings: Settings) -> list[tuple[str, str, str, date | None]]:
    """(kind, setting, model, table date) of each OpenAI model this server uses."""
    out = []
    default = settings.openai_image_model.strip()
    offered = settings.offered_image_models() if hasattr(settings, "offered_image_models") else [default]
    for image in offered:
        setting = "OPENAI_IMAGE_MODEL" if image == default else "OPENAI_EXTRA_IMAGE_MODELS"
        out.append(("image", setting, image, image_models.model_for(image).shutdown))
    if chat := settings.openai_chat_model.strip():
        out.append(("chat", "OPENAI_CHAT_MODEL", chat, chat_shutdown(chat)))
    return out


def _message(model: str, setting: str, kind: str, shutdown: date, days_left: int, replacement: str | None) -> str:
    extra = setting == "OPENAI_EXTRA_IMAGE_MODELS"
    what = f"{model} (in {setting})" if extra else f"{setting}={model}"
    if days_left <= 0:
        head = f"{what} was shut down on {shutdown:%Y-%m-%d}"
    else:
        head = f"{what} shuts down on {shutdown:%Y-%m-%d} (in {days_left} day{'s' if days_left != 1 else ''})"
    if extra:
        return f"{head}; replace it with {replacement}." if replacement else f"{head}; remove it from {setting}."
    if replacement:
        return f"{head}; set {setting}={replacement}."
    return f"{head}; set {setting} to a current {kind} model."


def upcoming_shutdowns(today: date, within_days: int = 90, *, settings: Settings | None = None,
                       ) -> list[ShutdownWarning]:
    """The configured OpenAI models (the image models offered, and the chat model) that shut down within
    `within_days` of `today` or already have, soonest first. Empty when no OpenAI key is set (no OpenAI model
    is in use)."""
    settings = settings or get_settings()
    if settings.openai_api_key is None:
        return []
    api = api_shutdowns(settings) or {}
    warnings = []
    for kind, setting, model, table_day in _configured(settings):
        api_day = api.get(model)
        if api_day is None and kind == "image" and (row := image_models.lookup(model)) is not None:
            api_day = api.get(row.name)  # a dated snapshot: its family's listing
        days = [d for d in (table_day, api_day) if d is not None]
        if not days:
            continue
        shutdown = min(days)
        source = "table+api" if table_day == api_day else ("api" if shutdown == api_day else "table")
        days_left = (shutdown - today).days
        if days_left > within_days:
            continue
        replacement = image_models.successor(model, shutdown) if kind == "image" else None
        warnings.append(ShutdownWarning(
            model=model, kind=kind, setting=setting, shutdown=shutdown, days_left=days_left,
            replacement=replacement, source=source,
            message=_message(model, setting, kind, shutdown, days_left, replacement)))
    return sorted(warnings, key=lambda w: w.shutdown)
