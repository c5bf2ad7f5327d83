"""The one way to build an OpenAI SDK client: image engine and chat model share the same settings."""

from __future__ import annotations

import openai

from imagechat.core.errors import EngineUnavailable
from imagechat.settings import Settings


def make_client(settings: Settings) -> openai.AsyncOpenAI:
    """The key lives only inside the client; nothing we log or raise includes it."""
    if settings.openai_api_key is None:
        raise EngineUnavailable("The OpenAI engine needs OPENAI_API_KEY in the server's environment.")
    return openai.AsyncOpenAI(api_key=settings.openai_api_key.get_secret_value(), base_url=settings.openai_base_url,
                              timeout=settings.openai_timeout_s, max_retries=settings.openai_max_retries)
