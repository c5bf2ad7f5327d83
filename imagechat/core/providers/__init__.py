"""The engine registry: configuration picks one engine; callers never import an engine directly."""

from __future__ import annotations

from imagechat.core.errors import EngineUnavailable
from imagechat.core.providers.base import ImageProvider
from imagechat.settings import Settings, get_settings

ENGINES = ("offline", "openai", "diffusers")


def get_provider(name: str | None = None, settings: Settings | None = None) -> ImageProvider:
    settings = settings or get_settings()
    name = name or settings.resolved_engine()
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
    raise EngineUnavailable(f"Unknown image engine {name!r}; choose one of {', '.join(ENGINES)}.")
