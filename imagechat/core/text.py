"""User text made safe to store and show.

PostgreSQL text cannot hold NUL; terminal escape sequences ("\x1b[31m") and invisible or direction-
changing characters only disguise what the text says. Prompts and titles become one clean line;
chat messages keep their line breaks and tabs."""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
# Lone surrogates (\ud800-\udfff) cannot be encoded as UTF-8 at all, so they go too.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ud800-\udfff]")
_CONTROL_KEEP_LINES = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff\ud800-\udfff]")


def clean_text(raw: str) -> str:
    """One line: escape sequences removed, control and invisible characters become spaces, runs of
    white space collapse."""
    return " ".join(_CONTROL.sub(" ", _ANSI.sub("", raw or "")).split())


def clean_message(raw: str) -> str:
    """Like clean_text, but line breaks and tabs stay (a chat message may have several lines)."""
    text = _CONTROL_KEEP_LINES.sub(" ", _ANSI.sub("", (raw or "").replace("\r\n", "\n").replace("\u2028", "\n")))
    return text.strip()


# The web UI turns notification text into code through a template layer that expands this marker
# (Reflex's Var tags); user text echoed in a message must never carry it.
_MARKER = re.compile(r"<\s*/?\s*reflex\.Var\s*>", re.IGNORECASE)


def unmarked(text: str) -> str:
    """`text` without template markers, removed until none is left (so nested pieces cannot rebuild one)."""
    while True:
        cleaned = _MARKER.sub("", text)
        if cleaned == text:
            return cleaned
        text = cleaned


def message_within_limit(raw: object, *, empty: str, noun: str) -> str:
    """A chat message (or a prompt) cleaned as it will be saved, or InvalidRequest: `empty` when nothing is left,
    else how long it is against MAX_PROMPT_CHARS."""
    from imagechat.core.errors import InvalidRequest
    from imagechat.settings import get_settings

    text = clean_message(raw) if isinstance(raw, str) else ""
    if not text:
        raise InvalidRequest(empty)
    limit = get_settings().max_prompt_chars
    if len(text) > limit:
        raise InvalidRequest(f"Your {noun} is {len(text)} characters long; the limit is {limit}. Shorten it.")
    return text
