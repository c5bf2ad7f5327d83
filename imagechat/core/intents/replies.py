"""The canned text replies: help, "no image yet", "what should it show?", and refusals with a reason."""

from __future__ import annotations

import re

from imagechat.core.intents.decision import TextReply
from imagechat.core.intents.sizes import MAX_SIDE, MIN_SIDE
from imagechat.core.intents.vocabulary import EXAMPLES
from imagechat.core.styles import STYLES


def help_reply(prefix: str = "") -> TextReply:
    """Its examples are a Markdown list of quoted prompts, one a line: the chat shows them as a list the user can
    click to put one in the message box (`example_list`)."""
    return TextReply(
        f"{prefix}I turn descriptions into images. Try one of these:\n\n"
        + "".join(f"- {e}\n" for e in EXAMPLES)
        + '\nAfter an image you can say "make it wider", "make it more colorful", "3 variations", '
        '"another one" or "as a watercolor". Say "3 of them", "wide" or "high quality" to set the count, shape '
        'and quality, or choose them under Options in the message box.\n\n'
        f"Styles: {', '.join(STYLES)}.")


# A line of a reply that offers one quoted prompt: `- "..."` (also `•` and `*`, and curly quotes).
_EXAMPLE_LINE = re.compile(r"^\s*[-•*]\s+[\"“](?P<prompt>[^\"“”\n]{3,300})[\"”]\s*$")


def example_list(text: str) -> tuple[str, list[str], str]:
    """A reply split around its first run of example lines: (text before, the prompts, text after). Replies
    without one come back whole: (text, [], "")."""
    lines = text.split("\n")
    start = next((i for i, line in enumerate(lines) if _EXAMPLE_LINE.match(line)), None)
    if start is None:
        return text, [], ""
    end = start
    while end < len(lines) and _EXAMPLE_LINE.match(lines[end]):
        end += 1
    prompts = [_EXAMPLE_LINE.match(line)["prompt"].strip() for line in lines[start:end]]
    return "\n".join(lines[:start]).strip(), prompts, "\n".join(lines[end:]).strip()


def how_many(what: str, limit: int) -> TextReply:
    return TextReply(f"How many {what}? Anything from 1 to {limit}.")


NO_IMAGE = TextReply('There is no image to change yet. Tell me what to create first, for example '
                     f'{EXAMPLES[0]}.')
ASK_WHAT = TextReply(f"What should the image show? For example {EXAMPLES[0]}.")
ASK_CHANGE = TextReply('What should I change? For example "make it wider", "make it more colorful" or '
                       '"make it look like a watercolor painting".')
WELCOME = TextReply("You're welcome! Tell me what to create next.")
BAD_SIZE = TextReply(f"Image sides must be between {MIN_SIDE} and {MAX_SIDE} pixels, for example 1024x1024, "
                     "1792x1024 (landscape) or 1024x1792 (portrait).")
