"""The chat-model path: the tool schema sent to the model, and its tool calls checked into an ImageIntent.

A valid call gives the same ImageIntent the parser makes for the same request; anything else raises
InvalidRequest (the caller then falls back to the parser)."""

from __future__ import annotations

import json
import re

from imagechat.core.errors import InvalidRequest
from imagechat.core.intents.actions import KEEPS_LOOK, cap_count
from imagechat.core.intents.decision import ChatContext, ImageIntent
from imagechat.core.intents.replies import NO_IMAGE
from imagechat.core.intents.sizes import SQUARE, size_ok
from imagechat.core.intents.words import edit_prompt, normalize_style, tidy
from imagechat.core.request import QUALITIES, ImageRequest
from imagechat.core.styles import STYLES
from imagechat.settings import get_settings

_SIZE_DOC = "WIDTHxHEIGHT: 1024x1024 (square), 1792x1024 (landscape, 'wider'), 1024x1792 (portrait, 'taller')."
_STYLE_PROP = {"type": ["string", "null"], "enum": [*STYLES, None],
               "description": "A named style when the user asks for one, else null."}
_QUALITY_PROP = {"type": "string", "enum": list(QUALITIES), "default": "auto",
                 "description": "Rendering quality when the user asks for one ('high quality', 'low quality'), "
                                "else auto."}

IMAGE_TOOL_SCHEMA: list[dict] = [
    {"type": "function", "function": {
        "name": "create_image",
        "description": "Create new images from a description. Use for a new subject, and for 'another one' "
                       "(repeat the previous prompt).",
        "parameters": {"type": "object", "additionalProperties": False, "required": ["prompt"], "properties": {
            "prompt": {"type": "string", "minLength": 1,
                       "description": "The scene in the user's own words, without the request phrasing "
                                      "('create an image of') and without style or size words."},
            "style": _STYLE_PROP,
            "size": {"type": "string", "description": _SIZE_DOC, "default": "1024x1024"},
            "n": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1,
                  "description": "How many images the user asked for."},
            "quality": _QUALITY_PROP,
        }}}},
    {"type": "function", "function": {
        "name": "edit_image",
        "description": "Change the last image in this conversation (restyle, resize, adjust), or make "
                       "variations of it. Only when there is a last image.",
        "parameters": {"type": "object", "additionalProperties": False, "properties": {
            "instruction": {"type": "string",
                            "description": "What to change besides style and size, e.g. 'more colorful', "
                                           "'add a boat'; empty when only style or size change."},
            "style": _STYLE_PROP,
            "size": {"type": "string", "description": _SIZE_DOC + " Omit to keep the current size."},
            "variations": {"type": "integer", "minimum": 0, "maximum": 10, "default": 0,
                           "description": "Number of variations requested ('3 variations'); 0 for an edit."},
            "quality": _QUALITY_PROP,
        }}}},
]


def _parse_size(value, default: tuple[int, int]) -> tuple[int, int]:
    if value in (None, ""):
        return default
    m = re.fullmatch(r"\s*(\d{2,5})\s*[x×]\s*(\d{2,5})\s*", str(value))
    if not m or not size_ok((int(m[1]), int(m[2]))):
        raise InvalidRequest(f"Unsupported image size {str(value)[:40]!r}. {_SIZE_DOC}")
    return int(m[1]), int(m[2])


def _tool_style(value) -> str | None:
    if value in (None, "", "none", "null"):
        return None
    style = normalize_style(str(value))
    if style is None:
        raise InvalidRequest(f"Unknown style {str(value)[:40]!r}. Choose one of: {', '.join(STYLES)}.")
    return style


def _tool_quality(value) -> str | None:
    """None when the model left it out or said auto (the composer's choice then applies)."""
    if value in (None, "", "auto"):
        return None
    if value not in QUALITIES:
        raise InvalidRequest(f"Unknown quality {str(value)[:20]!r}. Choose one of: {', '.join(QUALITIES)}.")
    return value


def _tool_int(value, default: int, name: str) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise InvalidRequest(f"'{name}' must be a whole number.")
    return int(value)


def _intent(action, prompt: str, style: str | None, size: tuple[int, int], n: int = 1, source=None,
            note: str | None = None, said: frozenset[str] = frozenset(), quality: str | None = None) -> ImageIntent:
    request = ImageRequest(prompt=prompt, style=style, width=size[0], height=size[1], n=n, quality=quality or "auto")
    return ImageIntent(action, request, source=source, note=note,
                       said=said | ({"quality"} if quality else frozenset()))


def intent_from_tool_call(name: str, arguments: dict | str, ctx: ChatContext) -> ImageIntent:
    """Validate an LLM tool call into the same ImageIntent the parser makes. Raises InvalidRequest."""
    if isinstance(arguments, str):  # OpenAI sends the arguments as a JSON string
        try:
            arguments = json.loads(arguments or "{}")
        except ValueError:
            raise InvalidRequest("The image request could not be understood.") from None
    if not isinstance(arguments, dict):
        raise InvalidRequest("The image request could not be understood.")
    limit = get_settings().max_prompt_chars
    if name == "create_image":
        prompt = tidy(str(arguments.get("prompt") or ""))
        if not prompt:
            raise InvalidRequest("What should the image show? The prompt is empty.")
        if len(prompt) > limit:
            raise InvalidRequest(f"The prompt is too long; please keep it under {limit} characters.")
        n = _tool_int(arguments.get("n"), 1, "n")
        if n < 1:
            raise InvalidRequest("'n' must be at least 1.")
        n, note = cap_count(n)
        style, size = _tool_style(arguments.get("style")), _parse_size(arguments.get("size"), SQUARE)
        # A model fills in defaults it was not asked for: only values other than the defaults count as said.
        said = frozenset(k for k, on in (("style", style is not None), ("size", size != SQUARE), ("n", n != 1)) if on)
        return _intent("generate", prompt, style, size, n=n, note=note, said=said,
                       quality=_tool_quality(arguments.get("quality")))
    if name == "edit_image":
        if not ctx.has_last_image:
            raise InvalidRequest(NO_IMAGE.message)
        style = _tool_style(arguments.get("style")) or ctx.last_style
        size = _parse_size(arguments.get("size"), (ctx.last_width, ctx.last_height))
        variations = _tool_int(arguments.get("variations"), 0, "variations")
        instruction = tidy(str(arguments.get("instruction") or ""))
        quality = _tool_quality(arguments.get("quality"))
        base = ctx.last_prompt or "the same image"
        prompt = edit_prompt(base, instruction) if instruction else base[:limit]
        if variations > 0:
            n, note = cap_count(variations)
            return _intent("variations", prompt, style, size, n=n, source="last", note=note, said=KEEPS_LOOK | {"n"},
                           quality=quality)
        return _intent("edit", prompt, style, size, source="last", said=KEEPS_LOOK, quality=quality)
    raise InvalidRequest(f"Unknown image tool {str(name)[:40]!r}.")
