"""The composer's options: what the chips under the message box choose (style, shape and size, quality, count,
engine and model), how they combine with what a message's words say, and the short label that shows them.

- `check_options` turns whatever a browser sent into a `ComposerOptions` or raises InvalidRequest.
- `apply_options` fills an ImageIntent's unsaid parts from the options: the words win ("wide", "3 of them",
  "in watercolor", "high quality" override the chips for that request, and a note says so). A change of the
  last image keeps its style and size; the count applies to new pictures only.
- `options_label` is the one line shown on a request and on each image: "watercolor · 1792×1024 · high ·
  gpt-image-2".
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from imagechat.core.errors import ImagechatError, InvalidRequest
from imagechat.core.intents import Decision, ImageIntent
from imagechat.core.intents.actions import cap_count
from imagechat.core.intents.sizes import LANDSCAPE, MAX_SIDE, MIN_SIDE, PORTRAIT, SQUARE
from imagechat.core.providers import ENGINES, get_provider, image_models
from imagechat.core.request import QUALITIES
from imagechat.core.styles import STYLES, check_style
from imagechat.settings import Settings, get_settings

ASPECTS: dict[str, tuple[int, int]] = {"square": SQUARE, "wide": LANDSCAPE, "tall": PORTRAIT}
ENGINE_LABELS = {"offline": "Offline painter (no AI)", "openai": "OpenAI", "diffusers": "Stable Diffusion (local)"}


@dataclass(frozen=True)
class ComposerOptions:
    style: str | None = None  # None: no preset (the words may still name one)
    width: int = SQUARE[0]
    height: int = SQUARE[1]
    quality: str = "auto"
    n: int = 1
    engine: str | None = None  # None: the configured engine
    model: str | None = None  # None: the engine's configured model

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height


@dataclass(frozen=True)
class EngineChoice:
    name: str
    label: str
    models: tuple[str, ...]  # the first is the default; one entry: nothing to choose


def _built(name: str, settings: Settings):
    try:
        return get_provider(name, settings)
    except ImagechatError:
        return None


def _current(models: list[str]) -> tuple[str, ...]:
    today = datetime.now(UTC).date()
    return tuple(m for m in models if not image_models.model_for(m).retired(today))


def engine_choices(settings: Settings | None = None) -> list[EngineChoice]:
    """The engines this server can use, the configured one first, each with the models it offers (the offline
    painter is always there; OpenAI with a key; Stable Diffusion with a model folder and the extra installed)."""
    settings = settings or get_settings()
    configured = settings.resolved_engine()
    out = []
    for name in (configured, *(n for n in ENGINES if n != configured)):
        if name == "openai" and settings.openai_api_key is None:
            continue
        if name == "diffusers" and not settings.diffusers_model_path:
            continue
        provider = _built(name, settings)
        if provider is None:
            continue
        models = _current(settings.offered_image_models()) if name == "openai" else (provider.model,)
        out.append(EngineChoice(name, ENGINE_LABELS.get(name, name), models or (provider.model,)))
    return out


def _whole(value: object, what: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise InvalidRequest(f"The {what} must be a whole number from {low} to {high}.")
    return value


def check_options(*, style: object = None, width: object = SQUARE[0], height: object = SQUARE[1],
                  quality: object = "auto", n: object = 1, engine: object = None, model: object = None,
                  settings: Settings | None = None) -> ComposerOptions:
    """Options a client sent, checked: known style and quality, a count within the limit, an engine this server
    has and one of its models, and a size that engine makes exactly. InvalidRequest says what to change."""
    settings = settings or get_settings()
    style = check_style(style or None)
    if not isinstance(quality, str) or quality not in QUALITIES:
        raise InvalidRequest(f"Quality must be one of: {', '.join(QUALITIES)}.")
    n = _whole(n, "number of images", 1, settings.max_images_per_request)
    width = _whole(width, "width", MIN_SIDE, MAX_SIDE)
    height = _whole(height, "height", MIN_SIDE, MAX_SIDE)
    choices = {c.name: c for c in engine_choices(settings)}
    engine = engine or None
    if engine is not None and engine not in choices:
        raise InvalidRequest("That engine isn't available on this server.")
    choice = choices[engine] if engine else next(iter(choices.values()))
    model = model or None
    if model is not None and model not in choice.models:
        raise InvalidRequest(f"Choose one of the models of {choice.label}: {', '.join(choice.models)}.")
    provider = get_provider(choice.name, settings, model=model if choice.name == "openai" else None)
    n = min(n, provider.capabilities.max_n)
    return ComposerOptions(style=style, width=width, height=height, quality=quality, n=n, engine=engine,
                           model=model if choice.name == "openai" else None)


def made_size(options: ComposerOptions) -> tuple[int, int]:
    """The size the chosen engine and model make for the options' size: itself when it takes it exactly, else
    the nearest one it makes (chat._submit snaps to the same)."""
    provider = get_provider(options.engine, model=options.model)
    if provider.accepts_size(options.width, options.height):
        return options.size
    return provider.closest_size(options.width, options.height)


def _count(n: int) -> str:
    return f"{n} image{'s' if n != 1 else ''}"


def apply_options(decision: Decision, options: ComposerOptions | None,
                  said: frozenset[str] | None = None) -> Decision:
    """The decision with the options filled in where the words said nothing (`said`, default the intent's own).
    A text reply is returned as it is."""
    if options is None or not isinstance(decision, ImageIntent):
        return decision
    said = decision.said if said is None else said
    request = decision.request
    new_picture = decision.action == "generate"
    changes: dict = {"engine": options.engine, "model": options.model}
    kept: list[tuple[str, str]] = []  # (what the words asked for, what the options said): for the note
    if "style" not in said and options.style:
        changes["style"] = options.style
    elif options.style and request.style != options.style and new_picture:
        kept.append((request.style or "no style", options.style))
    if "size" not in said:
        changes["width"], changes["height"] = options.size
    elif options.size != SQUARE and (request.width, request.height) != options.size and new_picture:
        kept.append((f"{request.width}×{request.height}", f"{options.width}×{options.height}"))
    if "quality" not in said:
        changes["quality"] = options.quality
    elif options.quality != "auto" and request.quality != options.quality:
        kept.append((f"{request.quality} quality", f"{options.quality} quality"))
    note = decision.note
    if new_picture and "n" not in said:
        changes["n"], cap_note = cap_count(options.n)
        note = note or cap_note
    elif new_picture and options.n != 1 and request.n != options.n:
        kept.append((_count(request.n), _count(options.n)))
    if kept:
        asked = ", ".join(a for a, _ in kept)
        chips = ", ".join(b for _, b in kept)
        used = f"Your message asked for {asked}, so that is what I used instead of the options ({chips})."
        note = f"{note}\n\n{used}" if note else used
    return replace(decision, request=replace(request, **changes), note=note)


def engine_name(engine: str, model: str) -> str:
    """How a label names who made it: the model of a model-based engine, else the engine."""
    if engine == "offline" or not model:
        return engine
    return model if len(model) <= 40 else model[:39] + "…"


def options_label(style: str | None, width: int, height: int, quality: str | None, engine: str, model: str,
                  n: int | None = None) -> str:
    """"watercolor · 1792×1024 · high · gpt-image-2" (with "2 images · " in front for a request of several)."""
    parts = [_count(n)] if n and n > 1 else []
    if style:
        parts.append(style)
    parts += [f"{width}×{height}", quality or "auto", engine_name(engine, model)]
    return " · ".join(parts)


__all__ = ["ASPECTS", "STYLES", "ComposerOptions", "EngineChoice", "apply_options", "check_options",
           "engine_choices", "engine_name", "made_size", "options_label"]
