"""Chat text -> an image request or a helpful text reply.

Two paths produce the same `ImageIntent`: this deterministic parser (always available, offline)
and an LLM calling the tools in `IMAGE_TOOL_SCHEMA` (checked by `intent_from_tool_call`).

Decisions worth knowing:
- An intent's `prompt` is always a complete description, so an engine that cannot edit can simply
  regenerate from it; `source="last"` tells an engine that can edit to start from the last image.
- A bare noun phrase ("a sunset over mountains") is a generate request when it starts with a
  determiner (a/an/the/some/my/a number) and is not a question or a sentence ("the weather is
  nice"). Other bare text gets the help reply, which shows how to ask.
- Style words are taken from explicit clauses ("in the style of", "as a", "like a", "X style",
  "X version", "in X", ", X") and removed from the prompt; unambiguous style words inside the
  prompt ("a cyberpunk city") set the style but stay in the prompt. Artist names map to a style
  and stay in the prompt ("in the style of Van Gogh" -> oil painting).
- Orientation words change the size only where they cannot be a subject: "a landscape with
  mountains" and "a portrait of my cat" are subjects; "in landscape", "portrait mode", "make it
  wider" are sizes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal

from imagechat.core.errors import InvalidRequest
from imagechat.core.providers.base import STYLES
from imagechat.settings import get_settings

SQUARE = (1024, 1024)
LANDSCAPE = (1792, 1024)
PORTRAIT = (1024, 1792)
MIN_SIDE, MAX_SIDE = 256, 4096


@dataclass(frozen=True)
class ImageIntent:
    action: Literal["generate", "edit", "variations"]
    prompt: str
    style: str | None = None
    width: int = SQUARE[0]
    height: int = SQUARE[1]
    n: int = 1
    source: Literal["last"] | None = None
    note: str | None = None  # shown to the user, e.g. when n was capped


@dataclass(frozen=True)
class TextReply:
    message: str


@dataclass
class ChatContext:
    last_prompt: str | None = None
    last_style: str | None = None
    last_width: int = SQUARE[0]
    last_height: int = SQUARE[1]
    has_last_image: bool = False


# ---------------------------------------------------------------- vocabulary

_STYLE_WORDS = {
    "photorealistic": "photorealistic photo realistic photorealism hyperrealistic hyper realistic realistic "
    "lifelike photographic photograph photography photo real photo",
    "watercolor": "watercolor watercolour watercolors watercolours water color water colour aquarelle",
    "cartoon": "cartoon cartoons cartoony cartoonish comic comics comic book anime manga cel shaded",
    "abstract": "abstract abstract art",
    "oil painting": "oil painting oil oils oil paint",
    "pixel art": "pixel art pixel pixels pixelated 8 bit 16 bit retro game retro video game",
    "sketch": "sketch sketched sketchy pencil pencil sketch charcoal line drawing line art",
    "neon": "neon cyberpunk synthwave vaporwave neon lights",
}
# Multi-word synonyms are listed word by word above; these are the phrases among them.
_PHRASES = {"photo realistic", "hyper realistic", "real photo", "water color", "water colour", "comic book",
            "cel shaded", "abstract art", "oil painting", "oil paint", "pixel art", "8 bit", "16 bit",
            "retro game", "retro video game", "pencil sketch", "line drawing", "line art", "neon lights"}


def _build_synonyms() -> dict[str, str]:
    table: dict[str, str] = {}
    for style, words in _STYLE_WORDS.items():
        text = f" {words} "
        for phrase in sorted(_PHRASES, key=len, reverse=True):
            if f" {phrase} " in text:
                table[phrase] = style
                text = text.replace(f" {phrase} ", " ")
        for word in text.split():
            table[word] = style
        table[style] = style
    return table


_SYNONYMS = _build_synonyms()
assert set(_SYNONYMS.values()) <= set(STYLES)

_ARTISTS = {"van gogh": "oil painting", "monet": "oil painting", "rembrandt": "oil painting",
            "vermeer": "oil painting", "turner": "oil painting", "picasso": "abstract", "kandinsky": "abstract",
            "mondrian": "abstract", "pollock": "abstract", "ghibli": "cartoon", "pixar": "cartoon",
            "disney": "cartoon"}

_LEAD_FILLERS = ("a ", "an ", "the ", "some ", "more ", "less ", "a bit ", "a little ", "slightly ", "very ",
                 "even ", "much ", "really ", "kind of ", "sort of ", "bit ", "more of ", "more like ")
_TRAIL_MEDIA = (" painting", " paintings", " drawing", " image", " picture", " art", " artwork", " illustration",
                " render", " style", " look", " effect", " version", " photo", " one", " aesthetic", " vibe")

_INLINE_STYLE = re.compile(
    r"\b(photo-?realistic|hyper-?realistic|watercolou?rs?|cartoon(?:ish|y)?|anime|manga|pixel[- ]art|"
    r"8-bit|16-bit|cyberpunk|synthwave|vaporwave|oil painting|pencil (?:sketch|drawing)|charcoal drawing|"
    r"abstract)\b", re.I)

_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
            "nine": 9, "ten": 10, "a couple of": 2, "a couple": 2, "couple of": 2, "a pair of": 2, "a few": 3,
            "few": 3, "several": 3, "some": 3, "a": 1, "an": 1, "another": 1}
_NUM = r"\d{1,6}|one|two|three|four|five|six|seven|eight|nine|ten|a couple(?: of)?|couple of|a pair of|a few|few|several|some"

_MEDIA = (r"images?|pictures?|pics?|photos?|photographs?|paintings?|drawings?|illustrations?|renders?|"
          r"renderings?|artworks?|sketch(?:es)?|watercolou?rs?")
_MEDIUM_STYLE = {"photo": "photorealistic", "photograph": "photorealistic", "sketch": "sketch",
                 "watercolor": "watercolor", "watercolour": "watercolor"}

_VERBS = (r"create|draw|generate|make|paint|render|produce|design|sketch|illustrate|imagine|visuali[sz]e|"
          r"depict|show|give|craft|whip up|come up with|do")

_POLITE_LEAD = re.compile(
    r"^(?:please|pls|plz|kindly|hey there|hey|hi there|hi|hello|ok(?:ay)?|so|now|then|also|and|alright|"
    r"great|cool|nice|perfect|thanks|thank you|yes|yeah|"
    r"(?:can|could|would|will) (?:you|u)(?: please)?|(?:i'?d|i would) (?:like|love)(?: (?:you )?to)?|"
    r"i (?:want|need)(?: (?:you )?to)?|let'?s(?: see)?|let me see|go ahead and|just|try to)\b[\s,!.:]*",
    re.I)
_POLITE_TAIL = re.compile(r"(?:[\s,]+(?:please|pls|plz|thanks|thank you|for me))+$", re.I)

_AGAIN = re.compile(
    r"(?:(?:give|show|make|create|generate|draw|do|try)(?: me| us)? )?"
    r"(?:another(?: one| image| picture| version| try| take| attempt)?|again|one more(?: time)?|once more|"
    r"(?:do|try|make|draw) (?:it|that|this) again|(?:the )?same (?:prompt |thing |one )?again|"
    r"re-?(?:roll|generate|do|draw)(?: it| that| this)?|new seed|(?:a )?different seed)\b", re.I)

_VARIATIONS = re.compile(
    rf"(?:(?:give|show|make|create|generate|get|do|try|draw)(?: me| us)? )?(?:(?P<num>{_NUM}) )?(?:more )?"
    r"(?:(?P<mods>[\w -]+?) )?(?:variations?|variants?|versions|alternatives|alternates|options)"
    r"(?: (?:of|on|for) (?:it|this|that|this one|that one|the (?:last |previous )?(?:one|image|picture|photo)))?",
    re.I)

_EDIT_LEAD = re.compile(
    r"^(?:(?:make|turn|change|convert|transform|render|redo|redraw|repaint|do|paint|draw|show) "
    r"(?:it|this|that|the (?:last |previous |same )?(?:one|image|picture|photo|pic|drawing|painting))"
    r"(?: look)?(?: (?:into|to)\b)?|(?:change|switch) (?:the )?style to|(?:change|switch) (?:it )?to|"
    r"it should be|can it be)\b\s*", re.I)
_EDIT_VERB = re.compile(r"^(?:add|include|put|insert|place|remove|delete|get rid of|take out|erase)\b", re.I)
_WEAK_LEAD = re.compile(
    r"^(?:try it|try|do it|same (?:thing|one|image|picture)?\s*but|same|but|what about|how about|now)\b\s*", re.I)

_QUESTION_WORD = re.compile(r"^(?:what|how|why|who|when|where|which|is|are|do|does|did|can|could|should|will)\b",
                            re.I)
_DETERMINER = re.compile(r"^(?:a|an|the|some|my|our|two|three|four|five|six|seven|eight|nine|ten|\d+)\s", re.I)
_COPULA = re.compile(r"\b(?:is|are|was|were|am|isn'?t|aren'?t|do|does|did|don'?t|have|has)\b", re.I)
_RELATIVE = re.compile(r"\b(?:that|which|who|where|while|as)\b", re.I)
_SIZE_ANYWHERE = re.compile(
    r"(?:\s*,?\s*\b(?:in|at|with)\s+(?:a\s+)?(?:size\s+(?:of\s+)?)?)?\b(\d{1,6})\s?[x×*]\s?(\d{1,6})(?:\s?(?:px|pixels))?\b",
    re.I)
_RATIOS = {"16:9": LANDSCAPE, "3:2": LANDSCAPE, "4:3": LANDSCAPE, "9:16": PORTRAIT, "2:3": PORTRAIT,
           "3:4": PORTRAIT, "1:1": SQUARE}
_ORIENT = {"landscape": LANDSCAPE, "widescreen": LANDSCAPE, "horizontal": LANDSCAPE, "wide": LANDSCAPE,
           "wider": LANDSCAPE, "portrait": PORTRAIT, "vertical": PORTRAIT, "tall": PORTRAIT, "taller": PORTRAIT,
           "square": SQUARE}
_ORIENT_RE = re.compile(
    r"(?P<pre>(?:in|as|into|to) )?(?:an? )?(?:a bit |a little |slightly |much |even )?(?:more )?"
    r"(?P<w>landscape|widescreen|horizontal|wider|wide|portrait|vertical|taller|tall|square)"
    r"(?P<post> (?:mode|orientation|format|aspect(?: ratio)?|shape|crop|image|picture|version|one))?")

_EXAMPLES = ('"Create an image of a sunset over mountains with a lake reflection"',
             '"/imagine a lighthouse on a cliff at night, watercolor"',
             '"Draw a cozy cabin in a snowy forest as a cartoon"')


def _help(prefix: str = "") -> TextReply:
    return TextReply(
        f"{prefix}I turn descriptions into images. Try:\n"
        + "".join(f"• {e}\n" for e in _EXAMPLES)
        + 'After an image you can say "make it wider", "make it more colorful", "3 variations", '
        '"another one" or "as a watercolor".\n'
        f"Styles: {', '.join(STYLES)}.")


_NO_IMAGE = TextReply('There is no image to change yet. Tell me what to create first, for example '
                      f'{_EXAMPLES[0]}.')
_ASK_WHAT = TextReply(f"What should the image show? For example {_EXAMPLES[0]}.")
_ASK_CHANGE = TextReply('What should I change? For example "make it wider", "make it more colorful" or '
                        '"make it look like a watercolor painting".')

# ---------------------------------------------------------------- small helpers


def normalize_style(text: str | None) -> str | None:
    """A style name from free words ("a watercolour painting", "more cartoony", "8-bit") or None."""
    if not text:
        return None
    x = re.sub(r"[\s\-_]+", " ", text.lower()).strip(" ,.;:!?'\"")
    while x:
        if x in _SYNONYMS:
            return _SYNONYMS[x]
        for lead in _LEAD_FILLERS:
            if x.startswith(lead):
                x = x[len(lead):].strip()
                break
        else:
            for tail in _TRAIL_MEDIA:
                if x.endswith(tail):
                    x = x[: -len(tail)].strip()
                    break
            else:
                return None
    return None


def _artist_style(text: str) -> str | None:
    low = text.lower()
    for name, style in _ARTISTS.items():
        if re.search(rf"\b{name}\b", low):
            return style
    return None


def _tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text)
    return text.strip(" ,.;:!?\"'“”‘’-").strip()


def _number(word: str) -> int:
    word = word.lower()
    return int(word) if word.isdigit() else _NUMBERS.get(word, 1)


@dataclass
class _Mod:
    kind: Literal["style", "size", "phrase"]
    style: str | None = None
    size: tuple[int, int] | None = None
    keep: bool = False  # the words stay in the prompt (artist names, unmapped "in the style of X")


def _classify(text: str, *, bare: bool) -> _Mod | None:
    """Is `text` a style or size modifier? `bare` allows lone words ("watercolor", "wider")."""
    t = _tidy(text.lower())
    t = re.sub(r"^(?:and|but|with|then)\s+", "", t)
    for filler in ("a bit ", "a little ", "slightly ", "even ", "much ", "more ", "less "):
        if t.startswith(filler) and bare:
            t = t[len(filler):]
    if not t:
        return None
    m = re.fullmatch(r"(?:in |at |with )?(?:a )?(?:size (?:of )?)?(\d{1,6}) ?(?:x|×|\*|by) ?(\d{1,6})(?: ?(?:px|pixels))?", t)
    if m:
        return _Mod("size", size=(int(m[1]), int(m[2])))
    m = re.fullmatch(r"(?:in |at )?(\d{1,2}:\d{1,2})(?: aspect(?: ratio)?| ratio| format)?", t)
    if m and m[1] in _RATIOS:
        return _Mod("size", size=_RATIOS[m[1]])
    m = _ORIENT_RE.fullmatch(t)
    if m and (bare or m["pre"] or m["post"] or m["w"] == "widescreen"):
        return _Mod("size", size=_ORIENT[m["w"]])
    m = re.fullmatch(r"(?:(?:done|rendered|drawn|painted) )?in (?:the )?style of (?P<x>.+)", t)
    if m:
        style = normalize_style(m["x"])
        if style:
            return _Mod("style", style=style)
        return _Mod("phrase", style=_artist_style(m["x"]), keep=True)
    patterns = (r"in (?:an? |the )?(?P<x>.+?)[ -]style",
                r"(?P<x>.+?)[ -]styled?",
                r"(?:(?:that |which )?(?:looks?|looking|styled|done|rendered|drawn|painted|turned|made) )?"
                r"(?:as|like|into) (?:an? |the )?(?P<x>.+)",
                r"in (?P<x>.+)",
                r"(?:an? )?(?P<x>.+?) (?:version|rendition|edition|take|look|effect|vibe|aesthetic|feel)")
    for pattern in patterns:
        m = re.fullmatch(pattern, t)
        if m and (style := normalize_style(m["x"])):
            return _Mod("style", style=style)
    if bare and (style := normalize_style(t)):
        return _Mod("style", style=style)
    return None


def _take_sizes(body: str) -> tuple[str, tuple[int, int] | None]:
    size = None
    for m in _SIZE_ANYWHERE.finditer(body):
        size = (int(m[1]), int(m[2]))
    return _SIZE_ANYWHERE.sub("", body), size


def _peel(body: str) -> tuple[str, str | None, tuple[int, int] | None]:
    """Remove trailing style/size clauses from a prompt; at least one word always stays."""
    body, size = _take_sizes(body)
    style = None
    changed = True
    while changed:
        changed = False
        words = body.split()
        for k in range(min(len(words) - 1, 10), 0, -1):
            prefix = " ".join(words[:-k])
            mod = _classify(" ".join(words[-k:]), bare=prefix.endswith((",", ";")))
            if mod is None:
                continue
            style = style or mod.style
            size = size or mod.size
            if mod.keep:
                return _tidy(body), style, size
            body = re.sub(r"[\s,;]+(?:and|but|with)?$", "", prefix).strip()
            changed = True
            break
    return _tidy(body), style, size


def _split_parts(body: str) -> list[tuple[str, str]]:
    """(separator, part) pairs; separators are kept so unclassified parts rejoin verbatim."""
    tokens = re.split(r"(\s*[,;]\s*|\s+and\s+|\s+but\s+)", body)
    parts, sep = [], ""
    for i, token in enumerate(tokens):
        if i % 2:
            sep = token
        elif token.strip():
            parts.append((sep, token.strip()))
    return parts


def _cap(n: int) -> tuple[int, str | None]:
    limit = get_settings().max_images_per_request
    if n > limit:
        return limit, f"You asked for {n} images; I can make at most {limit} per request, so here are {limit}."
    return n, None


def _size_ok(size: tuple[int, int]) -> bool:
    return all(MIN_SIDE <= side <= MAX_SIDE for side in size)


_BAD_SIZE = TextReply(f"Image sides must be between {MIN_SIDE} and {MAX_SIDE} pixels, for example 1024x1024, "
                      "1792x1024 (landscape) or 1024x1792 (portrait).")


def _intent(action, prompt: str, style, size, n=1, source=None, note=None) -> ImageIntent | TextReply:
    """The one place an ImageIntent is built by the parser: every invariant is checked here."""
    limit = get_settings().max_prompt_chars
    prompt = _tidy(prompt)
    if not prompt:
        return _ASK_WHAT
    if len(prompt) > limit:
        if action == "generate" and source is None:
            return TextReply(f"That prompt is {len(prompt)} characters long; please keep it under {limit}.")
        prompt = prompt[:limit].rstrip()  # an earlier prompt that grew through edits: keep its start
    if not _size_ok(size):
        return _BAD_SIZE
    n, cap_note = _cap(max(1, n))
    return ImageIntent(action, prompt, style, size[0], size[1], n, source, note or cap_note)


# ---------------------------------------------------------------- public API


def edit_prompt(previous_prompt: str, instruction: str) -> str:
    """A self-contained prompt for regenerating `previous_prompt` changed by `instruction`."""
    limit = get_settings().max_prompt_chars
    previous = _tidy(previous_prompt or "")
    instr = _tidy(_strip_polite(instruction or ""))
    instr = _tidy(_EDIT_LEAD.sub("", instr))
    m = re.fullmatch(r"(?:add|include|put|insert|place)(?: in)? (?P<x>.+?)"
                     r"(?: (?:to|in|into|on) (?:it|this|that|the (?:image|picture|scene)))?", instr, re.I)
    if m:
        instr = f"with {m['x']}"
    m = re.fullmatch(r"(?:remove|delete|get rid of|take out|erase|drop) (?P<x>.+?)"
                     r"(?: (?:from) (?:it|this|that|the (?:image|picture|scene)))?", instr, re.I)
    if m:
        instr = f"without {m['x']}"
    if not instr or instr.lower() in previous.lower():
        return previous[:limit]
    if not previous:
        return instr[:limit]
    instr = instr[: limit // 2]  # an instruction never pushes the whole scene out
    previous = previous[: limit - len(instr) - 2].rstrip(" ,")
    return f"{previous}, {instr}"


def _strip_polite(text: str) -> str:
    previous = None
    while previous != text:
        previous = text
        text = _POLITE_LEAD.sub("", text).strip()
        text = _POLITE_TAIL.sub("", text).strip()
    return text


def parse_message(text: str, ctx: ChatContext) -> ImageIntent | TextReply:
    """Deterministic: the same text and context always give the same answer. Never raises."""
    raw = re.sub(r"\s+", " ", (text or "").replace("’", "'")).strip()
    limit = get_settings().max_prompt_chars
    if len(raw) > limit + 200:  # room for "can you create an image of"; also bounds the parser's work
        return TextReply(f"That message is {len(raw)} characters long; please keep prompts under {limit}.")
    is_question = raw.endswith("?")
    s = raw.rstrip(" .!?")
    m = re.match(r"^/(?:imagine|image|draw|img)\b\s*(.*)$", s, re.I)
    if m:
        return _generate(m[1], n=1, style=None) if _tidy(m[1]) else _ASK_WHAT
    greeting = bool(re.match(r"^(?:hi|hello|hey|good (?:morning|afternoon|evening)|greetings|yo)\b", s, re.I))
    s = _tidy(_strip_polite(s))
    if not s:
        if re.match(r"^(?:thanks|thank you|thx|cheers)\b", raw, re.I):
            return TextReply("You're welcome! Tell me what to create next.")
        return _help("Hi! " if greeting else "")
    last_size = (ctx.last_width, ctx.last_height)

    # "another one", "again": same prompt, same look, a new seed.
    m = _AGAIN.match(s)
    if m:
        rest = s[m.end():].strip(" ,")
        rest = re.sub(r"^(?:but|and|in|with)\b\s*", "", rest, flags=re.I) if rest else rest
        mods = [_classify(p, bare=True) for _, p in _split_parts(rest)] if rest else []
        if all(mods):
            if not ctx.last_prompt:
                return _NO_IMAGE
            style = next((x.style for x in mods if x.style), ctx.last_style)
            size = next((x.size for x in mods if x.size), last_size)
            return _intent("generate", ctx.last_prompt, style, size)

    # "3 variations", "give me three watercolor versions".
    m = _VARIATIONS.fullmatch(s)
    if m and (not m["mods"] or normalize_style(m["mods"]) or m["mods"].lower() in ("different", "other", "new")):
        if not ctx.has_last_image:
            return _NO_IMAGE
        n = _number(m["num"]) if m["num"] else min(3, get_settings().max_images_per_request)
        if n < 1:
            return TextReply(f"How many variations? Anything from 1 to {get_settings().max_images_per_request}.")
        style = normalize_style(m["mods"]) or ctx.last_style
        return _intent("variations", ctx.last_prompt or "the same image", style, last_size, n=n, source="last")

    # "make it more colorful", "turn it into a cartoon", "add a boat".
    lead = _EDIT_LEAD.match(s)
    make_the = re.match(r"^make the (?!\w+ (?:of|showing|depicting)\b)", s, re.I) and ctx.has_last_image
    if lead or _EDIT_VERB.match(s) or make_the:
        if not ctx.has_last_image:
            return _NO_IMAGE
        body = s[lead.end():] if lead else s
        return _edit(body, ctx, require_modifiers=False) or _ASK_CHANGE

    # "wider", "as a cartoon", "in the style of Van Gogh", "watercolor version", "more colorful".
    weak = _WEAK_LEAD.match(s)
    body = s[weak.end():] if weak else s
    if body:
        edit = _edit(body, ctx, require_modifiers=True)
        if edit is not None:
            return edit if ctx.has_last_image else _NO_IMAGE

    # "create an image of ...", "draw a cat".
    m = re.match(rf"^(?:{_VERBS})(?: me| us)?\b\s*(?P<rest>.*)$", s, re.I)
    if m:
        verb = s.split()[0].lower()
        rest = _tidy(m["rest"])
        if not rest or re.match(r"^(?:something|anything|one|it|that|this|stuff)$", rest, re.I):
            return _ASK_WHAT
        if _QUESTION_WORD.match(rest) and not _DETERMINER.match(rest):
            return _help()
        return _object_phrase(rest, default_style=_MEDIUM_STYLE.get(verb))

    # "an image of ...", "a sunset over mountains".
    if re.match(rf"^(?:(?:{_NUM}|a|an|the|another) )?(?:[\w-]+ ){{0,3}}(?:{_MEDIA}) (?:of|showing|depicting)\b", s, re.I):
        return _object_phrase(s, default_style=None)
    if _looks_like_noun_phrase(s) and not is_question:
        return _generate(s, n=1, style=None)
    if re.match(r"^(?:thanks|thank you|thx|cheers)\b", raw, re.I):
        return TextReply("You're welcome! Tell me what to create next.")
    return _help("Hi! " if greeting else "")


def _looks_like_noun_phrase(s: str) -> bool:
    if not _DETERMINER.match(s) or len(s.split()) < 2:
        return False
    copula, relative = _COPULA.search(s), _RELATIVE.search(s)
    return copula is None or (relative is not None and relative.start() < copula.start())


def _object_phrase(rest: str, default_style: str | None) -> ImageIntent | TextReply:
    """The object of a verb: "an oil painting of X", "3 images of X", or just "a cat"."""
    m = re.fullmatch(
        rf"(?:(?P<num>{_NUM}|an|a|the|another) )?(?:(?P<adj>[\w -]{{1,40}}?) )?(?P<medium>{_MEDIA})"
        r"(?: (?:of|showing|depicting|that shows|featuring|about) (?P<subject>.+))?", rest, re.I)
    if not m:
        return _generate(rest, n=1, style=default_style)
    medium = m["medium"].lower()
    singular = "sketch" if medium == "sketches" else re.sub(r"s$", "", medium)
    adj = (m["adj"] or "").strip()
    adj_style = (normalize_style(f"{adj} {singular}") or normalize_style(adj)) if adj else None
    style = adj_style or _MEDIUM_STYLE.get(singular) or default_style
    plain_adj = bool(adj) and adj_style is None and not _NUMBER_WORD.fullmatch(adj)  # "a beautiful image"
    if not m["subject"]:
        return _generate(rest, n=1, style=style) if plain_adj else _ASK_WHAT
    plural = medium.endswith("s") and singular != medium
    n = _number(m["num"]) if (m["num"] and plural) else 1
    subject = f"{m['subject']}, {adj}" if plain_adj else m["subject"]  # keep the user's adjective
    if n < 1:
        return TextReply(f"How many images? Anything from 1 to {get_settings().max_images_per_request}.")
    return _generate(subject, n=n, style=style)


_COMPARATIVE = re.compile(r"^(?:more|less|a bit|a little|slightly|even|much|way|bit)\b", re.I)
_NUMBER_WORD = re.compile(rf"(?:{_NUM})", re.I)


def _generate(body: str, n: int, style: str | None) -> ImageIntent | TextReply:
    prompt, clause_style, size = _peel(body)
    style = clause_style or style
    if style is None and (m := _INLINE_STYLE.search(prompt)):
        style = normalize_style(m[1])
    if style is None:
        style = _artist_style(prompt) if re.search(r"\bstyle of\b", prompt, re.I) else None
    return _intent("generate", prompt, style, size or SQUARE, n=n)


def _edit(body: str, ctx: ChatContext, *, require_modifiers: bool) -> ImageIntent | TextReply | None:
    """An edit of the last image from its instruction; None when `require_modifiers` and it is not one."""
    body, size = _take_sizes(body)
    style, others = None, []
    for sep, part in _split_parts(body):
        mod = _classify(part, bare=True)
        if mod is None:
            # Without an edit verb only comparatives may stay ("more colorful"): "a cat in watercolor"
            # is a new picture, not an edit.
            rest, part_style, part_size = _peel(part)
            if require_modifiers and not _COMPARATIVE.match(rest):
                return None
            if not (part_style or part_size):
                others.append((sep, part))
                continue
            mod = _Mod("phrase", style=part_style, size=part_size)
            others.append((sep, rest))
        elif mod.keep:
            others.append((sep, part))
        style = style or mod.style
        size = size or mod.size
    instruction = _tidy("".join(sep + part if i else part for i, (sep, part) in enumerate(others)))
    if not (style or size or instruction):
        return None if require_modifiers else _ASK_CHANGE
    if size and not _size_ok(size):
        return _BAD_SIZE
    base = ctx.last_prompt or ""
    prompt = edit_prompt(base, instruction) if instruction else base
    if not _tidy(prompt):
        prompt = instruction or (f"the same image in {style} style" if style else "the same image")
    return _intent("edit", prompt, style or ctx.last_style, size or (ctx.last_width, ctx.last_height),
                   source="last")


# ---------------------------------------------------------------- the LLM path

_SIZE_DOC = "WIDTHxHEIGHT: 1024x1024 (square), 1792x1024 (landscape, 'wider'), 1024x1792 (portrait, 'taller')."
_STYLE_PROP = {"type": ["string", "null"], "enum": [*STYLES, None],
               "description": "A named style when the user asks for one, else null."}

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
        }}}},
]


def _parse_size(value, default: tuple[int, int]) -> tuple[int, int]:
    if value in (None, ""):
        return default
    m = re.fullmatch(r"\s*(\d{2,5})\s*[x×]\s*(\d{2,5})\s*", str(value))
    if not m or not _size_ok((int(m[1]), int(m[2]))):
        raise InvalidRequest(f"Unsupported image size {str(value)[:40]!r}. {_SIZE_DOC}")
    return int(m[1]), int(m[2])


def _tool_style(value) -> str | None:
    if value in (None, "", "none", "null"):
        return None
    style = normalize_style(str(value))
    if style is None:
        raise InvalidRequest(f"Unknown style {str(value)[:40]!r}. Choose one of: {', '.join(STYLES)}.")
    return style


def _tool_int(value, default: int, name: str) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise InvalidRequest(f"'{name}' must be a whole number.")
    return int(value)


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
        prompt = _tidy(str(arguments.get("prompt") or ""))
        if not prompt:
            raise InvalidRequest("What should the image show? The prompt is empty.")
        if len(prompt) > limit:
            raise InvalidRequest(f"The prompt is too long; please keep it under {limit} characters.")
        n = _tool_int(arguments.get("n"), 1, "n")
        if n < 1:
            raise InvalidRequest("'n' must be at least 1.")
        n, note = _cap(n)
        return ImageIntent("generate", prompt, _tool_style(arguments.get("style")),
                           *_parse_size(arguments.get("size"), SQUARE), n=n, note=note)
    if name == "edit_image":
        if not ctx.has_last_image:
            raise InvalidRequest(_NO_IMAGE.message)
        style = _tool_style(arguments.get("style")) or ctx.last_style
        size = _parse_size(arguments.get("size"), (ctx.last_width, ctx.last_height))
        variations = _tool_int(arguments.get("variations"), 0, "variations")
        instruction = _tidy(str(arguments.get("instruction") or ""))
        base = ctx.last_prompt or "the same image"
        prompt = edit_prompt(base, instruction) if instruction else base[:limit]
        if variations > 0:
            n, note = _cap(variations)
            return ImageIntent("variations", prompt, style, *size, n=n, source="last", note=note)
        return ImageIntent("edit", prompt, style, *size, n=1, source="last")
    raise InvalidRequest(f"Unknown image tool {str(name)[:40]!r}.")
