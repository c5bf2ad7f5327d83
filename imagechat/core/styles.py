"""The image styles: the one list every engine, the parser and the chat model share.

Engines that take a text prompt (OpenAI, Stable Diffusion) have no style parameter, so each style
also has the words they append to the prompt; the offline painter has a real treatment per style
(core/painter/styles.py)."""

from __future__ import annotations

from imagechat.core.errors import InvalidRequest

STYLES = ("photorealistic", "watercolor", "cartoon", "abstract", "oil painting", "pixel art", "sketch", "neon")

# What a text-prompt engine is told for each style ("a lighthouse, in a watercolor painting style.").
PROMPT_PHRASES = {
    "photorealistic": "as a photorealistic photograph with natural light",
    "watercolor": "in a watercolor painting style",
    "cartoon": "in a cartoon style with bold outlines and flat colours",
    "abstract": "as an abstract artwork of shapes and colour",
    "oil painting": "in an oil painting style with visible brush strokes",
    "pixel art": "as pixel art",
    "sketch": "as a pencil sketch",
    "neon": "in a glowing neon style",
}
assert set(PROMPT_PHRASES) == set(STYLES)


def check_style(value: object) -> str | None:
    """A canonical style name or None; InvalidRequest for anything else."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"Unknown style. Choose one of: {', '.join(STYLES)}.")
    style = value.strip().lower() or None
    if style is not None and style not in STYLES:
        raise InvalidRequest(f"Unknown style \"{style[:40]}\". Choose one of: {', '.join(STYLES)}.")
    return style


def styled_prompt(prompt: str, style: str | None) -> str:
    """The prompt with the style said in words, for engines that only take text."""
    if not style:
        return prompt.strip()
    return f"{prompt.strip().rstrip('.')}, {PROMPT_PHRASES[style]}."
