"""Prompt assistance: "Enhance" rewrites a draft before it is sent, adding concrete detail.

With a chat model configured (core/assistant.py, metered and budgeted like every chat-model call) the model
rewrites the draft; otherwise, or when its answer would change what was asked for, the offline enhancer does.
It adds one phrase each of composition, lighting, lens and style detail from a curated vocabulary:

- deterministic: the phrases are picked by a hash of the subject and style, so the same draft always gives the
  same result;
- it never changes the subject: the draft's words all stay, in order, and the details go right after the
  description, before any style, size, count or quality clause ("a fox, <details>, in watercolor, wide"), so
  the parser reads the same request from it. The vocabulary names no scene element, time of day, weather or
  colour the offline painter would draw, unless the draft already says that time or weather (lighting is
  chosen to match it), and no style but the draft's own;
- a category the draft already covers ("35mm", "soft light") gets nothing more, so enhancing twice changes
  nothing the second time.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass

from imagechat.core import assistant
from imagechat.core.errors import InvalidRequest
from imagechat.core.intents import ChatContext, ImageIntent, parse_message
from imagechat.core.text import message_within_limit
from imagechat.settings import Settings, get_settings

log = logging.getLogger(__name__)

OFFLINE, CHAT_MODEL = "offline", "chat model"
NOT_A_PICTURE = ('Enhance adds detail to a description of a new picture, such as "a lighthouse on a cliff at '
                 'night". Write one first, then press Enhance.')
ALREADY_DETAILED = "Your prompt already has composition, lighting, lens and style detail; nothing to add."

COMPOSITION = (
    "rule-of-thirds composition",
    "centred, symmetrical composition",
    "low viewpoint looking slightly up",
    "eye-level view with a clear focal point",
    "elevated viewpoint looking down",
    "layered foreground, middle ground and background",
    "leading lines toward the main subject",
    "generous negative space around the subject",
    "close framing on the main subject",
    "balanced composition with depth",
)
# Lighting by what the draft says about time and weather (checked in this order); the default names neither.
LIGHTING: tuple[tuple[re.Pattern, tuple[str, ...]], ...] = (
    (re.compile(r"\b(?:storm|stormy|thunder|thunderstorm|lightning|tempest|rain|rainy|raining|downpour)\b"),
     ("dramatic, contrasty light with glistening highlights", "soft, diffused light with glistening surfaces")),
    (re.compile(r"\b(?:fog|foggy|mist|misty|haze|hazy)\b"),
     ("soft, diffused light with gentle depth", "muted, softly scattered light")),
    (re.compile(r"\b(?:snow|snowy|snowing|winter|blizzard|snowfall)\b"),
     ("crisp, clean light with cool shadows", "soft light reflecting off fresh snow")),
    (re.compile(r"\b(?:night|nighttime|midnight|starry|stars|moonlit|moonlight)\b"),
     ("soft moonlit glow with deep shadows", "gentle glow against the night with crisp highlights")),
    (re.compile(r"\b(?:sunset|sunrise|golden hour|sundown|dusk|evening|twilight)\b"),
     ("warm low-angle light with long shadows", "warm rim light and soft glowing edges")),
    (re.compile(r"\b(?:dawn|daybreak|first light)\b"),
     ("soft, cool early light with delicate shadows", "gentle low light with a soft glow")),
    (re.compile(r""),
     ("soft natural light with gentle shadows", "crisp directional side light", "even, diffused light",
      "soft light with subtle contrast")),
)
LENS_PHOTO = (
    "35mm lens, natural perspective",
    "50mm lens with shallow focus",
    "85mm lens with soft background blur",
    "24mm lens with deep focus",
    "200mm telephoto compression",
)
LENS_PAINTED = (
    "35mm-style framing",
    "50mm-style natural perspective",
    "85mm-style close perspective",
    "24mm-style deep perspective",
)
STYLE_DETAIL: dict[str | None, tuple[str, ...]] = {
    None: ("rich detail and a harmonious colour scheme", "fine detail and balanced colour",
           "carefully rendered textures and cohesive colours"),
    "photorealistic": ("fine natural texture and subtle film grain", "true-to-life colour and fine detail",
                       "crisp detail with natural colour grading"),
    "watercolor": ("soft wet-on-wet washes and visible paper texture", "loose, translucent washes with soft edges",
                   "delicate pigment blooms and white paper highlights"),
    "cartoon": ("clean bold outlines and flat colour fills", "simple shapes with crisp outlines and cel shading"),
    "abstract": ("bold geometric shapes and a limited colour scheme",
                 "overlapping translucent forms with a bold colour scheme"),
    "oil painting": ("rich impasto brushwork and visible canvas texture",
                     "layered glazes with thick, expressive brush strokes"),
    "pixel art": ("crisp limited-palette pixels with clean dithering", "chunky pixel clusters and tidy dithering"),
    "sketch": ("fine graphite hatching and soft smudged shading", "confident line work with cross-hatched shadows"),
    "neon": ("glowing edges with soft bloom against deep shadows", "luminous outlines with a soft bloom"),
}
# A draft that already says any of these has that kind of detail.
HAS = {
    "composition": re.compile(r"\b(?:composition|composed|viewpoint|vantage|framing|framed|negative space|"
                              r"foreground|rule[- ]of[- ]thirds|symmetr\w*|close-?up|focal point|leading lines)\b"),
    "lighting": re.compile(r"\b(?:light|lighting|lit|glow\w*|shadows?|backlit|backlight|rim light|sunlight|"
                           r"moonlit|illuminat\w*)\b"),
    "lens": re.compile(r"\b(?:\d{2,3} ?mm|lens|depth of field|bokeh|telephoto|wide-angle|macro|f/\d[\d.]*)"),
    "style": re.compile(r"\b(?:brush\w*|textures?|grain|outlines?|washes|\w*hatch\w*|palette|pixels?|dithering|"
                        r"impasto|pigment|bloom|line ?work|detail(?:ed)?|colou?r (?:scheme|grading|palette))\b"),
}


@dataclass(frozen=True)
class Enhanced:
    before: str
    after: str
    source: str  # OFFLINE or CHAT_MODEL
    note: str = ""  # shown with the result (why the offline enhancer answered, or why nothing was added)


def _pick(options: tuple[str, ...], digest: bytes, i: int) -> str:
    return options[digest[i] % len(options)]


def details(prompt: str, style: str | None) -> list[str]:
    """The phrases the offline enhancer adds to `prompt` (the request's subject) in `style`: deterministic, and
    none of a kind the prompt already has."""
    low = prompt.lower()
    digest = hashlib.sha256(f"{' '.join(low.split())}\n{style or ''}".encode()).digest()
    lighting = next(options for pattern, options in LIGHTING if pattern.search(low))
    lens = LENS_PHOTO if style in (None, "photorealistic") else LENS_PAINTED
    chosen = {"composition": _pick(COMPOSITION, digest, 0), "lighting": _pick(lighting, digest, 1),
              "lens": _pick(lens, digest, 2), "style": _pick(STYLE_DETAIL.get(style, STYLE_DETAIL[None]), digest, 3)}
    return [phrase for kind, phrase in chosen.items() if not HAS[kind].search(low)]


def _subject_span(draft: str, prompt: str) -> re.Match | None:
    """Where the parsed prompt stands in the draft as typed (any case, any spacing, either apostrophe)."""
    words = [re.escape(w).replace("'", "['\u2019]") for w in prompt.split()]
    return re.search(r"\s+".join(words), draft, re.IGNORECASE) if words else None


def _request(text: str) -> ImageIntent | None:
    decision = parse_message(text, ChatContext())
    return decision if isinstance(decision, ImageIntent) and decision.action == "generate" else None


def enhance_offline(draft: str) -> Enhanced:
    """The offline enhancer (see the module's docstring). InvalidRequest when the draft is not a description of
    a new picture."""
    text = _checked(draft)
    intent = _request(text)
    if intent is None:
        raise InvalidRequest(NOT_A_PICTURE)
    added = details(intent.request.prompt, intent.request.style)
    limit = get_settings().max_prompt_chars
    while added and len(text) + sum(len(a) + 2 for a in added) + 1 > limit:
        added.pop()  # a long draft gets what fits
    if not added:
        return Enhanced(text, text, OFFLINE, ALREADY_DETAILED)
    insert = ", " + ", ".join(added)
    span = _subject_span(text, intent.request.prompt)
    if span is None:  # cannot happen for the parser's own prompt; keep the draft whole all the same
        return Enhanced(text, text.rstrip(" .") + insert, OFFLINE)
    head, tail = text[: span.end()], text[span.end():]
    if tail and not tail.startswith((",", ";", ".", "!", "?")) and tail.strip():
        insert += ","  # "a cabin in the snow as a cartoon" -> "a cabin in the snow, ..., as a cartoon"
    return Enhanced(text, head + insert + tail, OFFLINE)


def _checked(draft: str) -> str:
    return message_within_limit(draft, empty="Type a prompt first, then press Enhance.", noun="prompt")


_STOP = {"a", "an", "the", "of", "in", "on", "at", "with", "and", "or", "to", "by", "for", "from", "over", "under",
         "into", "as", "is", "it", "its", "my", "our", "your"}


def content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9']+", text.lower().replace("\u2019", "'")) if w not in _STOP}


def keeps_request(before: str, after: str) -> bool:
    """True when `after` still asks for what `before` did: every content word of the subject is there, and the
    parser reads the same style, size, count and quality from both (a draft it does not read as a picture needs
    only its words kept)."""
    if not after.strip() or len(after) > get_settings().max_prompt_chars:
        return False
    was = _request(before)
    subject = was.request.prompt if was else before
    if not content_words(subject) <= content_words(after):
        return False
    if was is None:
        return True
    now = _request(after)
    if now is None:
        return False
    a, b = was.request, now.request
    return (a.style, a.width, a.height, a.n, a.quality) == (b.style, b.width, b.height, b.n, b.quality)


async def enhance(owner_id: int, draft: str, *, settings: Settings | None = None, client=None) -> Enhanced:
    """The draft with more detail: from the chat model when one is configured and its answer keeps the request,
    otherwise from the offline enhancer (saying why). InvalidRequest for an empty or overlong draft, or one the
    offline enhancer cannot read as a picture."""
    settings = settings or get_settings()
    text = _checked(draft)
    note = ""
    if assistant.enabled(settings):
        try:
            after = " ".join((await assistant.rewrite_prompt(owner_id, text, settings=settings, client=client)).split())
        except assistant.ChatModelFailed as failure:
            log.warning("chat model could not enhance a prompt (%s); using the offline enhancer", failure.reason,
                        extra={"user_id": owner_id})
            note = "The chat model couldn't answer just now, so the offline enhancer wrote this."
        else:
            if keeps_request(text, after):
                return Enhanced(text, after, CHAT_MODEL)
            note = "The chat model's version changed what you asked for, so the offline enhancer wrote this."
    result = enhance_offline(text)
    return Enhanced(result.before, result.after, OFFLINE, result.note or note)
