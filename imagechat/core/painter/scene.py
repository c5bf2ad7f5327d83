"""Scene grammar: turn a free-text prompt into a small, explicit scene description.

Matching is word-based and case-insensitive. Anything the prompt does not say is filled in
from a stable hash of the prompt, so an unknown prompt still gets a coherent, repeatable scene.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from imagechat.core.styles import STYLES

TIMES = ("dawn", "day", "sunset", "dusk", "night")
WEATHERS = ("overcast", "storm", "fog", "rain", "snow")
# Far-to-near drawing order of land layers.
TERRAINS = ("mountains", "dunes", "hills", "city", "forest", "meadow")
WATERS = ("sea", "lake", "river")
SUBJECTS = ("sun", "moon", "birds", "boat", "house", "lighthouse", "tree")
COLOURS = ("red", "orange", "golden", "green", "blue", "teal", "purple", "pink",
           "pastel", "neon", "monochrome", "dark", "bright")

# Phrase -> canonical value. Multi-word phrases are matched before single words.
_TIME_WORDS = {
    "dawn": "dawn", "daybreak": "dawn", "first light": "dawn",
    "morning": "day", "day": "day", "daytime": "day", "noon": "day", "midday": "day",
    "afternoon": "day", "sunny": "day",
    "sunset": "sunset", "sunrise": "sunset", "golden hour": "sunset", "sundown": "sunset",
    "dusk": "dusk", "evening": "dusk", "twilight": "dusk",
    "night": "night", "nighttime": "night", "midnight": "night", "starry": "night",
    "stars": "night", "moonlit": "night", "moonlight": "night",
}
_WEATHER_WORDS = {
    "overcast": "overcast", "cloudy": "overcast", "clouds": "overcast", "grey sky": "overcast",
    "gray sky": "overcast",
    "storm": "storm", "stormy": "storm", "thunder": "storm", "thunderstorm": "storm",
    "lightning": "storm", "tempest": "storm",
    "fog": "fog", "foggy": "fog", "mist": "fog", "misty": "fog", "haze": "fog", "hazy": "fog",
    "rain": "rain", "rainy": "rain", "raining": "rain", "drizzle": "rain", "downpour": "rain",
    "snow": "snow", "snowy": "snow", "snowing": "snow", "winter": "snow", "blizzard": "snow",
    "snowfall": "snow",
}
_TERRAIN_WORDS = {
    "mountain": "mountains", "mountains": "mountains", "peak": "mountains", "peaks": "mountains",
    "alps": "mountains", "alpine": "mountains", "ridge": "mountains", "cliffs": "mountains",
    "hill": "hills", "hills": "hills", "valley": "hills", "countryside": "hills", "hillside": "hills",
    "dune": "dunes", "dunes": "dunes", "desert": "dunes", "sand": "dunes", "sahara": "dunes",
    "city": "city", "skyline": "city", "town": "city", "downtown": "city", "skyscraper": "city",
    "skyscrapers": "city", "buildings": "city", "metropolis": "city",
    "forest": "forest", "woods": "forest", "trees": "forest", "woodland": "forest",
    "pines": "forest", "jungle": "forest",
    "meadow": "meadow", "field": "meadow", "fields": "meadow", "flowers": "meadow",
    "grass": "meadow", "prairie": "meadow", "garden": "meadow",
}
_WATER_WORDS = {
    "sea": "sea", "ocean": "sea", "waves": "sea", "beach": "sea", "coast": "sea", "shore": "sea",
    "seaside": "sea", "harbour": "sea", "harbor": "sea",
    "lake": "lake", "pond": "lake", "reflection": "lake", "reflections": "lake", "mirror": "lake",
    "river": "river", "stream": "river", "creek": "river",
}
_SUBJECT_WORDS = {
    "sun": "sun", "moon": "moon", "full moon": "moon", "crescent": "moon",
    "bird": "birds", "birds": "birds", "seagull": "birds", "seagulls": "birds", "gulls": "birds",
    "flock": "birds", "eagle": "birds",
    "boat": "boat", "boats": "boat", "ship": "boat", "sailboat": "boat", "yacht": "boat",
    "sail": "boat", "canoe": "boat",
    "house": "house", "cabin": "house", "cottage": "house", "hut": "house", "barn": "house",
    "home": "house", "farmhouse": "house",
    "lighthouse": "lighthouse",
    "tree": "tree", "oak": "tree", "lone tree": "tree",
}
_COLOUR_WORDS = {
    "red": "red", "crimson": "red", "scarlet": "red",
    "orange": "orange", "amber": "orange",
    "golden": "golden", "gold": "golden", "yellow": "golden",
    "green": "green", "emerald": "green",
    "blue": "blue", "azure": "blue", "cobalt": "blue",
    "teal": "teal", "turquoise": "teal", "cyan": "teal",
    "purple": "purple", "violet": "purple", "lavender": "purple",
    "pink": "pink", "magenta": "pink", "rose": "pink",
    "pastel": "pastel", "soft colors": "pastel", "soft colours": "pastel",
    "neon": "neon", "vibrant": "neon", "vivid": "neon",
    "monochrome": "monochrome", "black and white": "monochrome", "grayscale": "monochrome",
    "greyscale": "monochrome", "b&w": "monochrome",
    "dark": "dark", "moody": "dark", "gloomy": "dark",
    "bright": "bright", "cheerful": "bright",
}
_STYLE_WORDS = {
    "photorealistic": "photorealistic", "photo": "photorealistic", "photograph": "photorealistic",
    "realistic": "photorealistic",
    "watercolor": "watercolor", "watercolour": "watercolor", "aquarelle": "watercolor",
    "cartoon": "cartoon", "comic": "cartoon", "anime": "cartoon", "cel shaded": "cartoon",
    "abstract": "abstract",
    "oil painting": "oil painting", "oil": "oil painting", "impasto": "oil painting",
    "pixel art": "pixel art", "pixel": "pixel art", "8-bit": "pixel art", "8 bit": "pixel art",
    "retro game": "pixel art",
    "sketch": "sketch", "pencil": "sketch", "drawing": "sketch", "charcoal": "sketch",
    # Plain "neon" is a colour word; only these phrases ask for the neon treatment.
    "neon style": "neon", "neon art": "neon", "synthwave": "neon", "neon sign": "neon",
}
assert set(_STYLE_WORDS.values()) <= set(STYLES)  # the painter's words name the app's styles

# Pleasant fallbacks for prompts that name no landscape: (terrain, water).
_FALLBACK_LANDSCAPES = (
    (("mountains",), "lake"), (("hills", "meadow"), None), (("dunes",), None),
    (("mountains", "forest"), None), ((), "sea"), (("hills",), "river"),
    (("mountains", "hills"), None), (("forest",), "lake"),
)
_FALLBACK_TIMES = ("day", "sunset", "dawn", "day", "dusk", "night", "sunset")
# A prompt that names a landscape but no time is shown in daylight or golden light, not in the dark.
_FALLBACK_TIMES_NAMED = ("day", "sunset", "day", "dawn", "day", "sunset", "day")


@dataclass(frozen=True)
class Scene:
    prompt: str
    time: str
    weather: frozenset[str]
    terrain: tuple[str, ...]  # far to near
    water: str | None
    subjects: frozenset[str]
    colours: tuple[str, ...]
    style_hint: str | None  # style named in the prompt, if any
    prompt_hash: int  # 64-bit, stable across processes (unlike hash())
    recognised: bool  # False when nothing in the prompt matched the grammar
    hue_shift: float = 0.0  # palette rotation in turns, only for unrecognised prompts
    subject_colours: tuple[tuple[str, str], ...] = ()  # ("house", "red") for "a red house"
    sky_colour: str | None = None  # "pink" for "a pink sky" or "make the sky pink": tints the sky only


def prompt_hash(prompt: str) -> int:
    norm = " ".join(prompt.lower().split())
    return int.from_bytes(hashlib.blake2b(norm.encode(), digest_size=8).digest(), "big")


def _find(text: str, table: dict[str, str]) -> list[str]:
    """Canonical values of the phrases found, in order of first appearance, without repeats."""
    hits: list[tuple[int, str]] = []
    for phrase in sorted(table, key=len, reverse=True):
        for m in re.finditer(r"(?<![\w&])" + re.escape(phrase) + r"(?![\w&])", text):
            hits.append((m.start(), table[phrase]))
    seen: list[str] = []
    for _, value in sorted(hits):
        if value not in seen:
            seen.append(value)
    return seen


# "without the trees", "no clouds", "remove the boat": what follows is left out of the scene (up to the next
# comma, conjunction or preposition: "no clouds over a snowy forest" keeps the forest and its snow).
_NEGATED = re.compile(r"(?<![\w&])(?:without|no|remove|minus)\s+(?:the\s+|any\s+|an?\s+)?"
                      r"(?P<x>[^,.;:!?]+?)(?=\s*(?:[,.;:!?]|(?<![\w&])(?:and|with|but|over|under|in|on|at|by|"
                      r"near|above|below|behind|beside|from|of|across|around)(?![\w&])|$))")
# Colour words that tint (the palette's hues), for the sky's own colour.
_HUES = "|".join(re.escape(w) for w in sorted(_COLOUR_WORDS, key=len, reverse=True)
                 if _COLOUR_WORDS[w] in ("red", "orange", "golden", "green", "blue", "teal", "purple", "pink"))
_SKY = r"sk(?:y|ies)"
_SKY_COLOUR = re.compile(
    # "a pink sky", "a pink evening sky"
    rf"(?<![\w&])(?P<a>{_HUES})(?:\s+[a-z]+)?\s+{_SKY}(?![\w&])"
    # "make the sky pink", "the sky is deep pink", "turn the sky to pink"
    rf"|(?<![\w&]){_SKY}\s+(?:(?:is|are|was|turns?|turned|goes|becomes?|to|into|in|more|a|an|deep|deeper|soft|"
    rf"softer|bright|brighter|light|lighter|vivid|pale|shade|shades|of|colou?red)\s+){{0,3}}(?P<b>{_HUES})(?![\w&])")


def _negated(text: str) -> tuple[str, set[str]]:
    """The text without its negated phrases, and the canonical values those phrases named."""
    dropped: set[str] = set()
    for m in _NEGATED.finditer(text):
        for table in (_TERRAIN_WORDS, _WATER_WORDS, _SUBJECT_WORDS, _WEATHER_WORDS):
            dropped.update(_find(m["x"], table))
    return _NEGATED.sub(" ", text), dropped


def parse_scene(prompt: str) -> Scene:
    text = " ".join(prompt.lower().split())
    h = prompt_hash(prompt)
    text, dropped = _negated(text)
    sky = _SKY_COLOUR.search(text)
    sky_colour = _COLOUR_WORDS[sky["a"] or sky["b"]] if sky else None
    times = _find(text, _TIME_WORDS)
    weather = set(_find(text, _WEATHER_WORDS)) - dropped
    terrain = set(_find(text, _TERRAIN_WORDS)) - dropped
    waters = [w for w in _find(text, _WATER_WORDS) if w not in dropped]
    subjects = set(_find(text, _SUBJECT_WORDS)) - dropped
    # The sky's colour tints the sky, not the whole picture.
    colours = tuple(_find(_SKY_COLOUR.sub(" ", text) if sky else text, _COLOUR_WORDS))
    # A colour word right before a subject ("a red house") paints that subject, not the whole scene.
    subject_colours: dict[str, str] = {}
    for cword, cval in _COLOUR_WORDS.items():
        for sword, sval in _SUBJECT_WORDS.items():
            if sval in ("house", "boat", "lighthouse", "tree") and \
                    re.search(r"(?<![\w&])" + re.escape(f"{cword} {sword}") + r"(?![\w&])", text):
                subject_colours.setdefault(sval, cval)
    bound = set(subject_colours.values())
    if bound:
        rest = set()
        for cword, cval in _COLOUR_WORDS.items():
            if cval in bound:
                for m in re.finditer(r"(?<![\w&])" + re.escape(cword) + r"(?![\w&])", text):
                    after = text[m.end():].lstrip()
                    if not any(after.startswith(sw) and _SUBJECT_WORDS[sw] in subject_colours
                               for sw in _SUBJECT_WORDS):
                        rest.add(cval)
        colours = tuple(c for c in colours if c not in bound or c in rest)
    styles = _find(text, _STYLE_WORDS)
    recognised = bool(times or weather or terrain or waters or subjects)

    water = waters[0] if waters else None
    if "lighthouse" in subjects and water is None:
        water = "sea"
    if "boat" in subjects and water is None:
        water = "lake"
    if not terrain and water is None:
        fb_terrain, fb_water = _FALLBACK_LANDSCAPES[h % len(_FALLBACK_LANDSCAPES)]
        terrain, water = set(fb_terrain) - dropped, fb_water if fb_water not in dropped else None
    if times:
        time = times[0]
    elif "moon" in subjects:
        time = "night"
    else:
        times_pool = _FALLBACK_TIMES_NAMED if recognised else _FALLBACK_TIMES
        time = times_pool[(h >> 8) % len(times_pool)]
    if "storm" in weather and "snow" not in weather:
        weather.add("rain")  # a storm without rain looks like plain overcast
    clear = not ({"overcast", "storm", "fog", "rain"} & weather)
    if time == "night" and clear and "moon" not in dropped:
        subjects.add("moon")
    if time in ("day", "dawn", "sunset") and clear and "sun" not in dropped:
        subjects.add("sun")
    hue_shift = 0.0 if (recognised or colours) else ((h >> 20) % 1000) / 1000.0
    if recognised:
        # Compose from what the prompt depicts, not its exact words: "..., more artistic" or a style
        # change then repaints the same scene instead of inventing a new one.
        h = prompt_hash(repr((time, sorted(weather), sorted(terrain), water, sorted(subjects), colours,
                              sorted(subject_colours.items()))))
    return Scene(
        prompt=prompt, time=time, weather=frozenset(weather),
        terrain=tuple(t for t in TERRAINS if t in terrain), water=water,
        subjects=frozenset(subjects), colours=colours, style_hint=styles[0] if styles else None,
        prompt_hash=h, recognised=recognised, hue_shift=hue_shift,
        subject_colours=tuple(sorted(subject_colours.items())), sky_colour=sky_colour,
    )
