"""Style, size, quality and count clauses: recognising them ("as a cartoon", "in 16:9", "wider", "high quality",
"3 of them") and peeling them off a prompt.

Explicit clauses ("in the style of", "as a", "like a", "X style", "X version", "in X", ", X") are
removed from the prompt; artist names map to a style and stay ("in the style of Van Gogh")."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from imagechat.core.intents.vocabulary import (
    COUNT_CLAUSE,
    COUNT_STRONG,
    MODIFIER_FILLERS,
    ORIENT,
    ORIENT_RE,
    QUALITY_CLAUSE,
    QUALITY_WORDS,
    RATIO_EXACT,
    RATIOS,
    SIZE_ANYWHERE,
    SIZE_EXACT,
    STYLE_CLAUSES,
    STYLE_OF,
)
from imagechat.core.intents.words import artist_style, normalize_style, number, tidy


@dataclass
class Modifier:
    kind: Literal["style", "size", "phrase", "quality", "count"]
    style: str | None = None
    size: tuple[int, int] | None = None
    keep: bool = False  # the words stay in the prompt (artist names, unmapped "in the style of X")
    quality: str | None = None
    n: int | None = None


@dataclass
class Clauses:
    """What the modifiers of one message said; None where they said nothing. The first value given wins."""

    style: str | None = None
    size: tuple[int, int] | None = None
    quality: str | None = None
    n: int | None = None

    def take(self, mod: Modifier) -> None:
        self.style = self.style or mod.style
        self.size = self.size or mod.size
        self.quality = self.quality or mod.quality
        self.n = self.n if self.n is not None else mod.n


def _quality_or_count(t: str, *, bare: bool) -> Modifier | None:
    m = QUALITY_CLAUSE.fullmatch(t)
    if m:
        return Modifier("quality", quality=QUALITY_WORDS[m["q"]] if m["q"] else "high")
    m = COUNT_CLAUSE.fullmatch(t)
    # Without a comma before it only "3 of them" / "x3" is a count: "a cat with two pictures" keeps its words.
    if m and (bare or m["x"] or m["what"] in COUNT_STRONG):
        return Modifier("count", n=int(m["x"]) if m["x"] else number(m["num"]))
    return None


def classify(text: str, *, bare: bool) -> Modifier | None:
    """Is `text` a style, size, quality or count modifier? `bare` allows lone words ("watercolor", "wider")."""
    t = tidy(text.lower())
    t = re.sub(r"^(?:and|but|with|then)\s+", "", t)
    for filler in MODIFIER_FILLERS:
        if t.startswith(filler) and bare:
            t = t[len(filler):]
    if not t:
        return None
    if mod := _quality_or_count(t, bare=bare):
        return mod
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


def peel(body: str) -> tuple[str, Clauses]:
    """Remove trailing style/size/quality/count clauses from a prompt; at least one word always stays."""
    body, size = take_sizes(body)
    said = Clauses(size=size)
    changed = True
    while changed:
        changed = False
        words = body.split()
        for k in range(min(len(words) - 1, 10), 0, -1):
            prefix = " ".join(words[:-k])
            mod = classify(" ".join(words[-k:]), bare=prefix.endswith((",", ";")))
            if mod is None:
                continue
            said.take(mod)
            if mod.keep:
                return tidy(body), said
            body = re.sub(r"[\s,;]+(?:and|but|with)?$", "", prefix).strip()
            changed = True
            break
    return tidy(body), said


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
