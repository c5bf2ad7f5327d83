"""Which image engine this server uses, in plain words (shown in the UI; never claims AI it has not)."""

from __future__ import annotations

from pathlib import Path

import reflex as rx

from imagechat.settings import Settings, get_settings


def engine_label(settings: Settings | None = None) -> str:
    s = settings or get_settings()
    engine = s.resolved_engine()
    if engine == "offline":
        return "Offline engine: procedural painter, no AI"
    if engine == "openai":
        return f"OpenAI {s.openai_image_model}"
    if engine == "diffusers":
        name = Path(s.diffusers_model_path).name if s.diffusers_model_path else "no model folder set"
        return f"Stable Diffusion, local: {name}"
    return engine


class EngineState(rx.State):
    """Read-only engine facts, fixed when the backend starts."""

    engine: str = get_settings().resolved_engine()
    label: str = engine_label()
