"""The canned text replies: help, "no image yet", "what should it show?", and refusals with a reason."""

from __future__ import annotations

from imagechat.core.intents.decision import TextReply
from imagechat.core.intents.sizes import MAX_SIDE, MIN_SIDE
from imagechat.core.intents.vocabulary import EXAMPLES
from imagechat.core.styles import STYLES


def help_reply(prefix: str = "") -> TextReply:
    return TextReply(
        f"{prefix}I turn descriptions into images. Try:\n"
        + "".join(f"• {e}\n" for e in EXAMPLES)
        + 'After an image you can say "make it wider", "make it more colorful", "3 variations", '
        '"another one" or "as a watercolor".\n'
        f"Styles: {', '.join(STYLES)}.")


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
