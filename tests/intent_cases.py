"""Chat text -> expected intent, as plain data shared by the parser tests and the LLM-path tests.

`prompt` is exact for the deterministic parser; an LLM may phrase it differently, so the LLM path
checks `keywords` (words any correct reading keeps) instead. `expect` is "text" for a TextReply.
Contexts are keyword arguments for ChatContext.
"""

from __future__ import annotations

from dataclasses import dataclass

NO_IMAGE: dict = {}
LAST: dict = dict(last_prompt="a sunset over mountains", last_style=None, last_width=1024, last_height=1024,
                  has_last_image=True)
LAST_WIDE_WATERCOLOR: dict = dict(last_prompt="a fox in the snow", last_style="watercolor", last_width=1792,
                                  last_height=1024, has_last_image=True)

SQ, WIDE, TALL = (1024, 1024), (1792, 1024), (1024, 1792)


@dataclass(frozen=True)
class IntentCase:
    text: str
    ctx: dict
    expect: str  # "generate" | "edit" | "variations" | "text"
    prompt: str | None = None
    keywords: tuple[str, ...] = ()
    style: str | None = None
    size: tuple[int, int] = SQ
    n: int = 1
    quality: str = "auto"


C = IntentCase
CASES: list[IntentCase] = [
    # --- new images
    C("Create an image of a sunset over mountains with a lake reflection", NO_IMAGE, "generate",
      "a sunset over mountains with a lake reflection", ("sunset", "mountains", "lake", "reflection")),
    C("draw a cat", NO_IMAGE, "generate", "a cat", ("cat",)),
    C("Can you please draw a cat wearing a tiny hat?", NO_IMAGE, "generate", "a cat wearing a tiny hat",
      ("cat", "hat")),
    C("I'd like a picture of a red fox in the snow", NO_IMAGE, "generate", "a red fox in the snow", ("fox", "snow")),
    C("please generate a photo of a golden retriever on a beach", NO_IMAGE, "generate",
      "a golden retriever on a beach", ("retriever", "beach"), style="photorealistic"),
    C("paint an oil painting of a harbor at dawn", NO_IMAGE, "generate", "a harbor at dawn", ("harbor",),
      style="oil painting"),
    C("make a watercolor painting of a fox", NO_IMAGE, "generate", "a fox", ("fox",), style="watercolor"),
    C("render a robot in pixel art", NO_IMAGE, "generate", "a robot", ("robot",), style="pixel art"),
    C("show me an illustration of a dragon over a castle", NO_IMAGE, "generate", "a dragon over a castle",
      ("dragon", "castle")),
    C("sketch a lighthouse", NO_IMAGE, "generate", "a lighthouse", ("lighthouse",), style="sketch"),
    C("/imagine a lighthouse on a cliff at night, watercolor", NO_IMAGE, "generate",
      "a lighthouse on a cliff at night", ("lighthouse", "cliff", "night"), style="watercolor"),
    C("/imagine cyberpunk city streets in the rain", NO_IMAGE, "generate", "cyberpunk city streets in the rain",
      ("city", "rain"), style="neon"),
    C("Draw a cozy cabin in a snowy forest as a cartoon", NO_IMAGE, "generate", "a cozy cabin in a snowy forest",
      ("cabin", "forest"), style="cartoon"),
    C("generate a castle on a hill in the style of a comic book", NO_IMAGE, "generate", "a castle on a hill",
      ("castle", "hill"), style="cartoon"),
    C("create an abstract image of the ocean", NO_IMAGE, "generate", "the ocean", ("ocean",), style="abstract"),
    C("paint a field of sunflowers in the style of Van Gogh", NO_IMAGE, "generate",
      "a field of sunflowers in the style of Van Gogh", ("sunflowers",), style="oil painting"),
    C("create 3 images of a cat", NO_IMAGE, "generate", "a cat", ("cat",), n=3),
    C("generate two pictures of a red car", NO_IMAGE, "generate", "a red car", ("car",), n=2),
    C("make ten pictures of dogs", NO_IMAGE, "generate", "dogs", ("dogs",), n=4),
    C("draw a mountain lake in landscape mode", NO_IMAGE, "generate", "a mountain lake", ("lake",), size=WIDE),
    C("a tall lighthouse in portrait orientation", NO_IMAGE, "generate", "a tall lighthouse", ("lighthouse",),
      size=TALL),
    C("generate a desert at noon 1792x1024", NO_IMAGE, "generate", "a desert at noon", ("desert",), size=WIDE),
    C("a sunset over mountains", NO_IMAGE, "generate", "a sunset over mountains", ("sunset", "mountains")),
    C("a landscape with rolling hills", NO_IMAGE, "generate", "a landscape with rolling hills", ("hills",)),
    C("a portrait of my cat", NO_IMAGE, "generate", "a portrait of my cat", ("cat",)),
    C("an image of a city skyline at dusk", NO_IMAGE, "generate", "a city skyline at dusk", ("skyline", "dusk")),
    C("the moon over a quiet sea, square", NO_IMAGE, "generate", "the moon over a quiet sea", ("moon", "sea")),
    C("Create an image of a sunset over mountains", LAST, "generate", "a sunset over mountains", ("sunset",)),
    # --- the composer's options said in words: counts, quality, aspect and style clauses after the description
    C("a fox in the snow, 3 of them", NO_IMAGE, "generate", "a fox in the snow", ("fox", "snow"), n=3),
    C("three images of a lighthouse at night", NO_IMAGE, "generate", "a lighthouse at night", ("lighthouse",), n=3),
    C("a red barn in a meadow, two images", NO_IMAGE, "generate", "a red barn in a meadow", ("barn", "meadow"), n=2),
    C("a castle on a hill x2", NO_IMAGE, "generate", "a castle on a hill", ("castle",), n=2),
    C("a fox in the snow, wide, in watercolor", NO_IMAGE, "generate", "a fox in the snow", ("fox",),
      style="watercolor", size=WIDE),
    C("draw a harbor at dawn in high quality", NO_IMAGE, "generate", "a harbor at dawn", ("harbor", "dawn"),
      quality="high"),
    C("a high quality photo of a mountain lake", NO_IMAGE, "generate", "a mountain lake", ("lake",),
      style="photorealistic", quality="high"),
    C("a city street in the rain, 2 of them, low quality", NO_IMAGE, "generate", "a city street in the rain",
      ("street", "rain"), n=2, quality="low"),
    C("/imagine a lighthouse in a storm, tall, 4 of them, hq", NO_IMAGE, "generate", "a lighthouse in a storm",
      ("lighthouse", "storm"), size=TALL, n=4, quality="high"),
    # --- edits of the last image
    C("Make it more artistic, like a watercolor painting", LAST, "edit", "a sunset over mountains, more artistic",
      ("sunset",), style="watercolor"),
    C("make it more like a watercolor painting", LAST, "edit", "a sunset over mountains", ("sunset",),
      style="watercolor"),
    C("make it wider", LAST, "edit", "a sunset over mountains", ("sunset",), size=WIDE),
    C("make it taller", LAST, "edit", "a sunset over mountains", ("sunset",), size=TALL),
    C("landscape", LAST, "edit", "a sunset over mountains", ("sunset",), size=WIDE),
    C("portrait please", LAST, "edit", "a sunset over mountains", ("sunset",), size=TALL),
    C("make it square", LAST_WIDE_WATERCOLOR, "edit", "a fox in the snow", ("fox",), style="watercolor", size=SQ),
    C("make it 1024x1792", LAST, "edit", "a sunset over mountains", ("sunset",), size=TALL),
    C("make it more colorful", LAST, "edit", "a sunset over mountains, more colorful", ("sunset", "colorful")),
    C("make it more colorful", LAST_WIDE_WATERCOLOR, "edit", "a fox in the snow, more colorful",
      ("fox", "colorful"), style="watercolor", size=WIDE),
    C("as a cartoon", LAST, "edit", "a sunset over mountains", ("sunset",), style="cartoon"),
    C("watercolor version", LAST, "edit", "a sunset over mountains", ("sunset",), style="watercolor"),
    C("in the style of pixel art", LAST, "edit", "a sunset over mountains", ("sunset",), style="pixel art"),
    C("turn it into an oil painting", LAST, "edit", "a sunset over mountains", ("sunset",), style="oil painting"),
    C("make it look like a photo", LAST_WIDE_WATERCOLOR, "edit", "a fox in the snow", ("fox",),
      style="photorealistic", size=WIDE),
    C("now make it cyberpunk and wider", LAST, "edit", "a sunset over mountains", ("sunset",), style="neon",
      size=WIDE),
    C("make it black and white", LAST, "edit", "a sunset over mountains, black and white", ("black", "white")),
    C("add a boat on the lake", LAST, "edit", "a sunset over mountains, with a boat on the lake", ("boat",)),
    C("remove the clouds", LAST, "edit", "a sunset over mountains, without the clouds", ("clouds",)),
    C("change the sky to purple", LAST, "edit", "a sunset over mountains, make the sky purple", ("sky", "purple")),
    C("change the colors to blue", LAST, "edit", "a sunset over mountains, make the colors blue", ("blue",)),
    C("turn the water into gold", LAST, "edit", "a sunset over mountains, make the water gold", ("water", "gold")),
    C("change the size to 16:9", LAST, "edit", "a sunset over mountains", ("sunset",), size=WIDE),
    C("make it wider in high quality", LAST, "edit", "a sunset over mountains", ("sunset",), size=WIDE,
      quality="high"),
    # --- again and variations
    C("another one", LAST_WIDE_WATERCOLOR, "generate", "a fox in the snow", ("fox",), style="watercolor",
      size=WIDE),
    C("again", LAST, "generate", "a sunset over mountains", ("sunset",)),
    C("one more time please", LAST, "generate", "a sunset over mountains", ("sunset",)),
    C("another one in high quality", LAST_WIDE_WATERCOLOR, "generate", "a fox in the snow", ("fox",),
      style="watercolor", size=WIDE, quality="high"),
    C("3 variations", LAST, "variations", "a sunset over mountains", ("sunset",), n=3),
    C("give me three variations", LAST_WIDE_WATERCOLOR, "variations", "a fox in the snow", ("fox",),
      style="watercolor", size=WIDE, n=3),
    C("show me 2 variations of it", LAST, "variations", "a sunset over mountains", ("sunset",), n=2),
    C("give me 9 variations", LAST, "variations", "a sunset over mountains", ("sunset",), n=4),
    # --- nothing to change yet: ask what to create
    C("make it more like a watercolor painting", NO_IMAGE, "text"),
    C("make it wider", NO_IMAGE, "text"),
    C("3 variations", NO_IMAGE, "text"),
    C("another one", NO_IMAGE, "text"),
    C("as a cartoon", NO_IMAGE, "text"),
    # --- conversation, questions, vague requests
    C("hello", NO_IMAGE, "text"),
    C("hi there!", LAST, "text"),
    C("what can you do?", NO_IMAGE, "text"),
    C("How do I make it wider?", LAST, "text"),
    C("the weather is nice today", NO_IMAGE, "text"),
    C("draw me a picture", NO_IMAGE, "text"),
    C("make something", NO_IMAGE, "text"),
    C("", NO_IMAGE, "text"),
    C("thanks!", LAST, "text"),
]
