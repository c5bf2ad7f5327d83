"""The engine registry: configuration picks one engine; callers never import an engine directly.

Engines are built once per process and settings (an OpenAI engine holds an HTTP connection pool)
and closed by `close_all()` when the process stops (the worker's shutdown hook, the app's lifespan)."""

from __future__ import annotations

import threading

from imagechat.core.errors import EngineUnavailable, InvalidRequest
from imagechat.core.providers.base import ImageProvider
from imagechat.settings import Settings, get_settings

ENGINES = ("offline", "openai", "diffusers")

_built: dict[str, tuple[Settings, ImageProvider]] = {}
_lock = threading.Lock()


def _build(name: str, settings: Settings) -> ImageProvider:
    if name == "offline":
        from imagechat.core.providers.offline import OfflineProvider

        return OfflineProvider()
    if name == "openai":
        if settings.openai_api_key is None:
            raise EngineUnavailable("The OpenAI engine needs OPENAI_API_KEY in the server's environment.")
        from imagechat.core.providers.openai_images import OpenAIProvider

        return OpenAIProvider(settings)
    if name == "diffusers":
        from imagechat.core.providers.diffusers_engine import DiffusersProvider

        return DiffusersProvider(settings)
    raise EngineUnavailable(f"Unknown image engine {str(name)[:40]!r}; choose one of {', '.join(ENGINES)}.")


def get_provider(name: str | None = None, settings: Settings | None = None, *,
                 model: str | None = None) -> ImageProvider:
    """The process's engine `name` (default: the configured one), built on first use. `model` picks one of the
    OpenAI image models the server offers (settings.offered_image_models); other engines have one model and
    ignore it. A model the server does not offer is an InvalidRequest."""
    settings = settings or get_settings()
    name = name or settings.resolved_engine()
    key, build_with = name, settings
    if name == "openai" and model and model != settings.openai_image_model:
        if model not in settings.offered_image_models():
            raise InvalidRequest(f"This server does not offer the image model {str(model)[:60]!r}; choose one of "
                                 f"{', '.join(settings.offered_image_models())}.")
        key, build_with = f"openai:{model}", settings.model_copy(update={"openai_image_model": model})
    with _lock:
        cached = _built.get(key)
        if cached is not None and cached[0] is settings:
            return cached[1]
    provider = _build(name, build_with)
    with _lock:
        _built[key] = (settings, provider)  # new settings (tests) replace the engine built for the old ones
    return provider


async def close_all() -> None:
    """Close every engine this process built (network pools); later calls build new ones."""
    with _lock:
        providers = [provider for _, provider in _built.values()]
        _built.clear()
    for provider in providers:
        await provider.aclose()
