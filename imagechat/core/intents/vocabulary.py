"""The words and patterns the parser understands: style synonyms, counts, verbs, sizes, courtesy.

Patterns are compiled once here; the rules and helpers only combine them."""

from __future__ import annotations

import re

from imagechat.core.intents.sizes import LANDSCAPE, PORTRAIT, SQUARE
from imagechat.core.styles import STYLES

# ---------------------------------------------------------------- styles

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


SYNONYMS = _build_synonyms()  # word or phrase -> style name
assert set(SYNONYMS.values()) <= set(STYLES)

# Artist names set a style but stay in the prompt ("in the style of Van Gogh" -> oil painting).
ARTISTS = {"van gogh": "oil painting", "monet": "oil painting", "rembrandt": "oil painting",
           "vermeer": "oil painting", "turner": "oil painting", "picasso": "abstract", "kandinsky": "abstract",
           "mondrian": "abstract", "pollock": "abstract", "ghibli": "cartoon", "pixar": "cartoon",
           "disney": "cartoon"}

# Words around a style word that do not change it ("a bit more cartoony", "watercolor painting").
LEAD_FILLERS = ("a ", "an ", "the ", "some ", "more ", "less ", "a bit ", "a little ", "slightly ", "very ",
                "even ", "much ", "really ", "kind of ", "sort of ", "bit ", "more of ", "more like ")
TRAIL_MEDIA = (" painting", " paintings", " drawing", " image", " picture", " art", " artwork", " illustration",
               " render", " style", " look", " effect", " version", " photo", " one", " aesthetic", " vibe")
MODIFIER_FILLERS = ("a bit ", "a little ", "slightly ", "even ", "much ", "more ", "less ")

# Style words unambiguous enough to set the style from inside a prompt ("a cyberpunk city").
INLINE_STYLE = re.compile(
    r"\b(photo-?realistic|hyper-?realistic|watercolou?rs?|cartoon(?:ish|y)?|anime|manga|pixel[- ]art|"
    r"8-bit|16-bit|cyberpunk|synthwave|vaporwave|oil painting|pencil (?:sketch|drawing)|charcoal drawing|"
    r"abstract)\b", re.I)

# ---------------------------------------------------------------- counts, media and verbs

NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
           "nine": 9, "ten": 10, "a couple of": 2, "a couple": 2, "couple of": 2, "a pair of": 2, "a few": 3,
           "few": 3, "several": 3, "some": 3, "a": 1, "an": 1, "another": 1}
NUM = (r"\d{1,6}|one|two|three|four|five|six|seven|eight|nine|ten|a couple(?: of)?|couple of|a pair of|a few|few|"
       r"several|some")
NUMBER_WORD = re.compile(rf"(?:{NUM})", re.I)

MEDIA = (r"images?|pictures?|pics?|photos?|photographs?|paintings?|drawings?|illustrations?|renders?|"
         r"renderings?|artworks?|sketch(?:es)?|watercolou?rs?")
# A medium that implies a style ("a photo of", "sketch a lighthouse").
MEDIUM_STYLE = {"photo": "photorealistic", "photograph": "photorealistic", "sketch": "sketch",
                "watercolor": "watercolor", "watercolour": "watercolor"}

VERBS = (r"create|draw|generate|make|paint|render|produce|design|sketch|illustrate|imagine|visuali[sz]e|"
         r"depict|show|give|craft|whip up|come up with|do")
VERB_LEAD = re.compile(rf"^(?:{VERBS})(?: me| us)?\b\s*(?P<rest>.*)$", re.I)
VAGUE_OBJECT = re.compile(r"^(?:something|anything|one|it|that|this|stuff)$", re.I)
MEDIUM_OF = re.compile(
    rf"^(?:(?:{NUM}|a|an|the|another) )?(?:[\w-]+ ){{0,3}}(?:{MEDIA}) (?:of|showing|depicting)\b", re.I)
OBJECT_PHRASE = re.compile(
    rf"(?:(?P<num>{NUM}|an|a|the|another) )?(?:(?P<adj>[\w -]{{1,40}}?) )?(?P<medium>{MEDIA})"
    r"(?: (?:of|showing|depicting|that shows|featuring|about) (?P<subject>.+))?", re.I)

# ---------------------------------------------------------------- courtesy

SLASH_COMMAND = re.compile(r"^/(?:imagine|image|draw|img)\b\s*(.*)$", re.I)
GREETING = re.compile(r"^(?:hi|hello|hey|good (?:morning|afternoon|evening)|greetings|yo)\b", re.I)
THANKS = re.compile(r"^(?:thanks|thank you|thx|cheers)\b", re.I)
POLITE_LEAD = re.compile(
    r"^(?:please|pls|plz|kindly|hey there|hey|hi there|hi|hello|ok(?:ay)?|so|now|then|also|and|alright|"
    r"great|cool|nice|perfect|thanks|thank you|yes|yeah|"
    r"(?:can|could|would|will) (?:you|u)(?: please)?|(?:i'?d|i would) (?:like|love)(?: (?:you )?to)?|"
    r"i (?:want|need)(?: (?:you )?to)?|let'?s(?: see)?|let me see|go ahead and|just|try to)\b[\s,!.:]*",
    re.I)
POLITE_TAIL = re.compile(r"(?:[\s,]+(?:please|pls|plz|thanks|thank you|for me))+$", re.I)

# ---------------------------------------------------------------- follow-ups on the last image

AGAIN = re.compile(
    r"(?:(?:give|show|make|create|generate|draw|do|try)(?: me| us)? )?"
    r"(?:another(?: one| image| picture| version| try| take| attempt)?|again|one more(?: time)?|once more|"
    r"(?:do|try|make|draw) (?:it|that|this) again|(?:the )?same (?:prompt |thing |one )?again|"
    r"re-?(?:roll|generate|do|draw)(?: it| that| this)?|new seed|(?:a )?different seed)\b", re.I)
AGAIN_JOINER = re.compile(r"^(?:but|and|in|with)\b\s*", re.I)

VARIATIONS = re.compile(
    rf"(?:(?:give|show|make|create|generate|get|do|try|draw)(?: me| us)? )?(?:(?P<num>{NUM}) )?(?:more )?"
    r"(?:(?P<mods>[\w -]+?) )?(?:variations?|variants?|versions|alternatives|alternates|options)"
    r"(?: (?:of|on|for) (?:it|this|that|this one|that one|the (?:last |previous )?(?:one|image|picture|photo)))?",
    re.I)
NEW_TAKE_WORDS = ("different", "other", "new")  # "3 different versions" asks for variations, not a style

EDIT_LEAD = re.compile(
    r"^(?:(?:make|turn|change|convert|transform|render|redo|redraw|repaint|recolou?r|do|paint|draw|show) "
    r"(?:it|this|that|the (?:last |previous |same )?(?:one|image|picture|photo|pic|drawing|painting))"
    r"(?: look)?(?: (?:into|to)\b)?|(?:change|switch) (?:the )?(?:style|size|shape|aspect(?: ratio)?|format) to|"
    r"(?:change|switch) (?:it )?to|"
    r"it should be|can it be)\b\s*", re.I)
EDIT_VERB = re.compile(r"^(?:add|include|put|insert|place|remove|delete|get rid of|take out|erase)\b", re.I)
MAKE_THE = re.compile(r"^make the (?!\w+ (?:of|showing|depicting)\b)", re.I)  # "make the sky red", not "...of"
# "change the sky to purple", "turn the water into gold", "recolor the boat red": said as "make the sky purple".
CHANGE_THE = re.compile(r"^(?:change|turn|recolou?r|colou?r|paint) the (?!(?:style|size|shape|aspect|format)\b)"
                        r"(?P<what>[a-z][a-z ]{0,40}?)"
                        r"(?: (?:to|into|in))? (?P<to>[a-z][a-z -]{0,40})$", re.I)
WEAK_LEAD = re.compile(
    r"^(?:try it|try|do it|same (?:thing|one|image|picture)?\s*but|same|but|what about|how about|now)\b\s*", re.I)
COMPARATIVE = re.compile(r"^(?:more|less|a bit|a little|slightly|even|much|way|bit)\b", re.I)
ADD_INSTRUCTION = re.compile(r"(?:add|include|put|insert|place)(?: in)? (?P<x>.+?)"
                             r"(?: (?:to|in|into|on) (?:it|this|that|the (?:image|picture|scene)))?", re.I)
REMOVE_INSTRUCTION = re.compile(r"(?:remove|delete|get rid of|take out|erase|drop) (?P<x>.+?)"
                                r"(?: (?:from) (?:it|this|that|the (?:image|picture|scene)))?", re.I)

# ---------------------------------------------------------------- is it a noun phrase?

QUESTION_WORD = re.compile(r"^(?:what|how|why|who|when|where|which|is|are|do|does|did|can|could|should|will)\b",
                           re.I)
DETERMINER = re.compile(r"^(?:a|an|the|some|my|our|two|three|four|five|six|seven|eight|nine|ten|\d+)\s", re.I)
COPULA = re.compile(r"\b(?:is|are|was|were|am|isn'?t|aren'?t|do|does|did|don'?t|have|has)\b", re.I)
RELATIVE = re.compile(r"\b(?:that|which|who|where|while|as)\b", re.I)

# ---------------------------------------------------------------- sizes and orientation

SIZE_ANYWHERE = re.compile(
    r"(?:\s*,?\s*\b(?:in|at|with)\s+(?:a\s+)?(?:size\s+(?:of\s+)?)?)?"
    r"\b(\d{1,6})\s?[x×*]\s?(\d{1,6})(?:\s?(?:px|pixels))?\b",
    re.I)
SIZE_EXACT = re.compile(
    r"(?:in |at |with )?(?:a )?(?:size (?:of )?)?(\d{1,6}) ?(?:x|×|\*|by) ?(\d{1,6})(?: ?(?:px|pixels))?")
RATIO_EXACT = re.compile(r"(?:in |at )?(\d{1,2}:\d{1,2})(?: aspect(?: ratio)?| ratio| format)?")
RATIOS = {"16:9": LANDSCAPE, "3:2": LANDSCAPE, "4:3": LANDSCAPE, "9:16": PORTRAIT, "2:3": PORTRAIT,
          "3:4": PORTRAIT, "1:1": SQUARE}
ORIENT = {"landscape": LANDSCAPE, "widescreen": LANDSCAPE, "horizontal": LANDSCAPE, "wide": LANDSCAPE,
          "wider": LANDSCAPE, "portrait": PORTRAIT, "vertical": PORTRAIT, "tall": PORTRAIT, "taller": PORTRAIT,
          "square": SQUARE}
# "landscape" alone can be a subject ("a landscape with mountains"); with "in"/"mode" it is a size.
ORIENT_RE = re.compile(
    r"(?P<pre>(?:in|as|into|to) )?(?:an? )?(?:a bit |a little |slightly |much |even )?(?:more )?"
    r"(?P<w>landscape|widescreen|horizontal|wider|wide|portrait|vertical|taller|tall|square)"
    r"(?P<post> (?:mode|orientation|format|aspect(?: ratio)?|shape|crop|image|picture|version|one))?")

# ---------------------------------------------------------------- quality and count clauses (lowercased text)

QUALITY_WORDS = {"low": "low", "lower": "low", "draft": "low", "quick": "low", "fast": "low", "medium": "medium",
                 "standard": "medium", "normal": "medium", "high": "high", "higher": "high", "highest": "high",
                 "best": "high", "max": "high", "maximum": "high", "top": "high", "ultra": "high", "auto": "auto"}
# "high quality", "in low quality", "at the best resolution", "hq", "hi-res"; "a high detail" is left alone.
QUALITY_CLAUSE = re.compile(
    r"(?:(?:in|at|with) )?(?:(?:the|a) )?(?:(?P<q>" + "|".join(QUALITY_WORDS) + r")(?:[ -]?(?:quality|res|"
    r"resolution|definition))|(?P<hq>hq|hi-?res|high-?res|high-?def))(?: (?:image|images|version|mode|setting))?")
# "3 of them", "three images", "2 versions", "x3": how many pictures, said after the description.
COUNT_CLAUSE = re.compile(
    rf"(?:(?:make|give me|show me|do|generate|create|draw|i want|we want|want) )?(?P<num>{NUM}) "
    r"(?P<what>of (?:them|those|these|it)|images?|pictures?|pics?|photos?|versions?|copies|takes|variations?|"
    r"variants?|options|times)(?: please)?|(?:x|×) ?(?P<x>\d{1,2})")
COUNT_STRONG = ("of them", "of those", "of these", "of it")  # can end a prompt without a comma before it

# ---------------------------------------------------------------- style clauses (matched on lowercased text)

STYLE_OF = re.compile(r"(?:(?:done|rendered|drawn|painted) )?in (?:the )?style of (?P<x>.+)")
# Tried in order; the first whose `x` names a style wins.
STYLE_CLAUSES = tuple(re.compile(p) for p in (
    r"in (?:an? |the )?(?P<x>.+?)[ -]style",
    r"(?P<x>.+?)[ -]styled?",
    r"(?:(?:that |which )?(?:looks?|looking|styled|done|rendered|drawn|painted|turned|made) )?"
    r"(?:as|like|into) (?:an? |the )?(?P<x>.+)",
    r"in (?P<x>.+)",
    r"(?:an? )?(?P<x>.+?) (?:version|rendition|edition|take|look|effect|vibe|aesthetic|feel)",
))
STYLE_OF_ANYWHERE = re.compile(r"\bstyle of\b", re.I)

EXAMPLES = ('"Create an image of a sunset over mountains with a lake reflection"',
            '"/imagine a lighthouse on a cliff at night, watercolor"',
            '"Draw a cozy cabin in a snowy forest as a cartoon"')
