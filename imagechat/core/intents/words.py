"""Text helpers shared by the parser and the tool path: styles from free words, tidying, edit prompts."""

from __future__ import annotations

import re

from imagechat.core.intents.vocabulary import (
    ADD_INSTRUCTION,
    ARTISTS,
    EDIT_LEAD,
    LEAD_FILLERS,
    NUMBERS,
    POLITE_LEAD,
    POLITE_TAIL,
    REMOVE_INSTRUCTION,
    SYNONYMS,
    TRAIL_MEDIA,
)
from imagechat.settings import get_settings


def normalize_style(text: str | None) -> str | None:
    """A style name from free words ("a watercolour painting", "more cartoony", "8-bit") or None."""
    if not text:
        return None
    x = re.sub(r"[\s\-_]+", " ", text.lower()).strip(" ,.;:!?'\"")
    while x:
        if x in SYNONYMS:
            return SYNONYMS[x]
        for lead in LEAD_FILLERS:
            if x.startswith(lead):
                x = x[len(lead):].strip()
                break
        else:
            for tail in TRAIL_MEDIA:
                if x.endswith(tail):
                    x = x[: -len(tail)].strip()
                    break
            else:
                return None
    return None


def artist_style(text: str) -> str | None:
    low = text.lower()
    for name, style in ARTISTS.items():
        if re.search(rf"\b{name}\b", low):
            return style
    return None


def tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text)
    return text.strip(" ,.;:!?\"'“”‘’-").strip()


def number(word: str) -> int:
    word = word.lower()
    return int(word) if word.isdigit() else NUMBERS.get(word, 1)


def strip_polite(text: str) -> str:
    """Without leading and trailing courtesy ("could you please ... for me, thanks"); repeated until stable."""
    previous = None
    while previous != text:
        previous = text
        text = POLITE_LEAD.sub("", text).strip()
        text = POLITE_TAIL.sub("", text).strip()
    return text


def edit_prompt(previous_prompt: str, instruction: str) -> str:
    """A self-contained prompt for regenerating `previous_prompt` changed by `instruction`."""
    limit = get_settings().max_prompt_chars
    previous = tidy(previous_prompt or "")
    instr = tidy(strip_polite(instruction or ""))
    instr = tidy(EDIT_LEAD.sub("", instr))
    m = ADD_INSTRUCTION.fullmatch(instr)
    if m:
        instr = f"with {m['x']}"
    m = REMOVE_INSTRUCTION.fullmatch(instr)
    if m:
        instr = f"without {m['x']}"
    if not instr or instr.lower() in previous.lower():
        return previous[:limit]
    if not previous:
        return instr[:limit]
    instr = instr[: limit // 2]  # an instruction never pushes the whole scene out
    previous = previous[: limit - len(instr) - 2].rstrip(" ,")
    return f"{previous}, {instr}"
