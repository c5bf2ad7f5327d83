"""Style and size clauses: recognising them ("as a cartoon", "in 16:9", "wider") and peeling them off a prompt.

Explicit clauses ("in the style of", "as a", "like a", "X style", "X version", "in X", ", X") are
removed from the prompt; artist names map to a style and stay ("in the style of Van Gogh")."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from imagechat.core.intents.vocabulary import (
    MODIFIER_FILLERS,
    ORIENT,
    ORIENT_RE,
    RATIO_EXACT,
    RATIOS,
    SIZE_ANYWHERE,
    SIZE_EXACT,
    STYLE_CLAUSES,
    STYLE_OF,
)
from imagechat.core.intents.words import artist_style, normalize_style, tidy


@dataclass
class Modifier:
    kind: Literal["style", "size", "phrase"]
    style: str | None = None
    size: tuple[int, int] | None = None
    keep: bool = False  # the words stay in the prompt (artist names, unmapped "in the style of X")


def classify(text: str, *, bare: bool) -> Modifier | None:
    """Is `text` a style or size modifier? `bare` allows lone words ("watercolor", "wider")."""
    t = tidy(text.lower())
    t = re.sub(r"^(?:and|but|with|then)\s+", "", t)
    for filler in MODIFIER_FILLERS:
        if t.startswith(filler) and bare:
            t = t[len(filler):]
    if not t:
        return None
    m = SIZE_EXACT.fullmatch(t)
    if m:
        return Modifier("size", size=(int(m[1]), int(m[2])))
    m = RATIO_EXACT.fullmatch(t)
    if m and m[1] in RATIOS:
        return Modifier("size", size=RATIOS[m[1]])
    # Orientation words are sizes only where they cannot be a subject ("a portrait of my cat").
    m = ORIENT_RE.fullmatch(t)
    if m and (bare or m["pre"] or m["post"] or m["w"] == "widescreen"):
        return Modifier("size", size=ORIENT[m["w"]])
    m = STYLE_OF.fullmatch(t)
    if m:
        style = normalize_style(m["x"])
        if style:
            return Modifier("style", style=style)
        return Modifier("phrase", style=artist_style(m["x"]), keep=True)
    for pattern in STYLE_CLAUSES:
        m = pattern.fullmatch(t)
        if m and (style := normalize_style(m["x"])):
            return Modifier("style", style=style)
    if bare and (style := normalize_style(t)):
        return Modifier("style", style=style)
    return None


def take_sizes(body: str) -> tuple[str, tuple[int, int] | None]:
    """`body` without any "WxH" sizes, and the last one given."""
    size = None
    for m in SIZE_ANYWHERE.finditer(body):
        size = (int(m[1]), int(m[2]))
    return SIZE_ANYWHERE.sub("", body), size


def peel(body: str) -> tuple[str, str | None, tuple[int, int] | None]:
    """Remove trailing style/size clauses from a prompt; at least one word always stays."""
    body, size = take_sizes(body)
    style = None
    changed = True
    while changed:
        changed = False
        words = body.split()
        for k in range(min(len(words) - 1, 10), 0, -1):
            prefix = " ".join(words[:-k])
            mod = classify(" ".join(words[-k:]), bare=prefix.endswith((",", ";")))
            if mod is None:
                continue
            style = style or mod.style
            size = size or mod.size
            if mod.keep:
                return tidy(body), style, size
            body = re.sub(r"[\s,;]+(?:and|but|with)?$", "", prefix).strip()
            changed = True
            break
    return tidy(body), style, size


def split_parts(body: str) -> list[tuple[str, str]]:
    """(separator, part) pairs; separators are kept so unclassified parts rejoin verbatim."""
    tokens = re.split(r"(\s*[,;]\s*|\s+and\s+|\s+but\s+)", body)
    parts, sep = [], ""
    for i, token in enumerate(tokens):
        if i % 2:
            sep = token
        elif token.strip():
            parts.append((sep, token.strip()))
    return parts
