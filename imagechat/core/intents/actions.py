"""From a cleaned-up body of text to a generate or edit intent; `make_intent` checks every invariant."""

from __future__ import annotations

from imagechat.core.intents.decision import ChatContext, Decision, ImageIntent, TextReply
from imagechat.core.intents.modifiers import Clauses, Modifier, classify, peel, split_parts, take_sizes
from imagechat.core.intents.replies import ASK_CHANGE, ASK_WHAT, BAD_SIZE, how_many
from imagechat.core.intents.sizes import SQUARE, size_ok
from imagechat.core.intents.vocabulary import (
    COMPARATIVE,
    INLINE_STYLE,
    MEDIUM_STYLE,
    NUMBER_WORD,
    OBJECT_PHRASE,
    QUALITY_CLAUSE,
    QUALITY_WORDS,
    STYLE_OF_ANYWHERE,
)
from imagechat.core.intents.words import artist_style, edit_prompt, normalize_style, number, tidy
from imagechat.core.request import ImageRequest
from imagechat.settings import get_settings


def cap_count(n: int) -> tuple[int, str | None]:
    """`n` within the per-request limit, and a note for the user when it was lowered."""
    limit = get_settings().max_images_per_request
    if n > limit:
        return limit, f"You asked for {n} images; I can make at most {limit} per request, so here are {limit}."
    return n, None


# A change of the last image keeps its look unless the words say otherwise: the composer's style and size
# never apply to it.
KEEPS_LOOK = frozenset({"style", "size"})


def make_intent(action, prompt: str, style, size, n=1, source=None, note=None, quality: str | None = None,
                said: frozenset[str] = frozenset(), fresh: bool = False) -> Decision:
    """The one place the parser builds an ImageIntent: every invariant is checked here. `said` names what the
    words set (see ImageIntent.said)."""
    limit = get_settings().max_prompt_chars
    prompt = tidy(prompt)
    if not prompt:
        return ASK_WHAT
    if len(prompt) > limit:
        if action == "generate" and source is None:
            return TextReply(f"That prompt is {len(prompt)} characters long; please keep it under {limit}.")
        prompt = prompt[:limit].rstrip()  # an earlier prompt that grew through edits: keep its start
    if not size_ok(size):
        return BAD_SIZE
    n, cap_note = cap_count(max(1, n))
    request = ImageRequest(prompt=prompt, style=style, width=size[0], height=size[1], n=n, quality=quality or "auto")
    return ImageIntent(action, request, source=source, note=note or cap_note,
                       said=frozenset(said) | ({"quality"} if quality else set()), fresh=fresh)


def _said(clauses: Clauses, *, style: bool = False, n: bool = False) -> frozenset[str]:
    return frozenset(name for name, on in (("style", style or clauses.style is not None),
                                           ("size", clauses.size is not None), ("n", n or clauses.n is not None))
                     if on)


def generate(body: str, n: int | None, style: str | None, quality: str | None = None) -> Decision:
    """A new image of `body`; trailing style, size, quality and count clauses are taken off it. `n` None:
    the words gave no count (so far)."""
    prompt, said = peel(body)
    style = said.style or style
    # Unambiguous style words inside the prompt ("a cyberpunk city") set the style but stay in it.
    if style is None and (m := INLINE_STYLE.search(prompt)):
        style = normalize_style(m[1])
    if style is None:
        style = artist_style(prompt) if STYLE_OF_ANYWHERE.search(prompt) else None
    count = said.n if said.n is not None else n
    if count is not None and count < 1:
        return how_many("images", get_settings().max_images_per_request)
    return make_intent("generate", prompt, style, said.size or SQUARE, n=count or 1, quality=said.quality or quality,
                       said=_said(said, style=style is not None, n=count is not None))


def object_phrase(rest: str, default_style: str | None) -> Decision:
    """The object of a verb: "an oil painting of X", "3 images of X", or just "a cat"."""
    m = OBJECT_PHRASE.fullmatch(rest)
    if not m:
        return generate(rest, n=None, style=default_style)
    medium = m["medium"].lower()
    singular = "sketch" if medium == "sketches" else medium.removesuffix("s")
    adj = (m["adj"] or "").strip()
    quality = None
    if adj and (q := QUALITY_CLAUSE.fullmatch(adj.lower())):  # "a high quality photo of a fox"
        quality, adj = (QUALITY_WORDS[q["q"]] if q["q"] else "high"), ""
    adj_style = (normalize_style(f"{adj} {singular}") or normalize_style(adj)) if adj else None
    style = adj_style or MEDIUM_STYLE.get(singular) or default_style
    plain_adj = bool(adj) and adj_style is None and not NUMBER_WORD.fullmatch(adj)  # "a beautiful image"
    if not m["subject"]:
        return generate(rest, n=None, style=style, quality=quality) if plain_adj else ASK_WHAT
    plural = medium.endswith("s") and singular != medium
    # "3 images of" and "one image of" give a count; "an image of" does not (the composer's count then applies).
    explicit_one = (m["num"] or "").lower() in ("one", "1")
    n = number(m["num"]) if (m["num"] and (plural or explicit_one)) else None
    subject = f"{m['subject']}, {adj}" if plain_adj else m["subject"]  # keep the user's adjective
    return generate(subject, n=n, style=style, quality=quality)


def edit(body: str, ctx: ChatContext, *, require_modifiers: bool) -> Decision | None:
    """An edit of the last image from its instruction; None when `require_modifiers` and it is not one."""
    body, size = take_sizes(body)
    said, others = Clauses(size=size), []
    for sep, part in split_parts(body):
        mod = classify(part, bare=True)
        if mod is None:
            # Without an edit verb only comparatives may stay ("more colorful"): "a cat in watercolor"
            # is a new picture, not an edit.
            rest, part_said = peel(part)
            if part_said != Clauses() and (rest_mod := classify(rest, bare=True)) and not rest_mod.keep:
                part_said.take(rest_mod)  # "wider in high quality": both words are modifiers
                rest = ""
            if require_modifiers and rest and not COMPARATIVE.match(rest):
                return None
            if part_said == Clauses():
                others.append((sep, part))
                continue
            mod = Modifier("phrase", style=part_said.style, size=part_said.size, quality=part_said.quality,
                           n=part_said.n)
            if rest:
                others.append((sep, rest))
        elif mod.keep:
            others.append((sep, part))
        said.take(mod)
    instruction = tidy("".join(sep + part if i else part for i, (sep, part) in enumerate(others)))
    style, size = said.style, said.size
    if not (style or size or said.quality or said.n or instruction):
        return None if require_modifiers else ASK_CHANGE
    if size and not size_ok(size):
        return BAD_SIZE
    if said.n is not None and said.n < 1:
        return how_many("images", get_settings().max_images_per_request)
    base = ctx.last_prompt or ""
    prompt = edit_prompt(base, instruction) if instruction else base
    if not tidy(prompt):
        prompt = instruction or (f"the same image in {style} style" if style else "the same image")
    return make_intent("edit", prompt, style or ctx.last_style, size or (ctx.last_width, ctx.last_height),
                       n=said.n or 1, source="last", quality=said.quality,
                       said=KEEPS_LOOK | ({"n"} if said.n is not None else set()))
