"""The deterministic parser: chat text -> an ImageIntent or a TextReply, as an ordered list of named rules.

`parse_message` normalises the text once; each rule then looks at `s` (the text without courtesy
words, closing punctuation and quotes), `raw` (whitespace-collapsed, as typed) and the context, and
returns a decision or None to pass. The first decision wins, so order matters: follow-ups on the
last image are tried before a new picture, and the help reply is the last resort.

A bare noun phrase ("a sunset over mountains") is a generate request when it starts with a
determiner (a/an/the/some/my/a number) and is not a question or a sentence ("the weather is nice").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from imagechat.core.intents.actions import KEEPS_LOOK, edit, generate, make_intent, object_phrase
from imagechat.core.intents.decision import ChatContext, Decision, TextReply
from imagechat.core.intents.modifiers import classify, split_parts
from imagechat.core.intents.replies import ASK_CHANGE, ASK_WHAT, NO_IMAGE, WELCOME, help_reply, how_many
from imagechat.core.intents.vocabulary import (
    AGAIN,
    AGAIN_JOINER,
    CHANGE_THE,
    COPULA,
    DETERMINER,
    EDIT_LEAD,
    EDIT_VERB,
    GREETING,
    MAKE_THE,
    MEDIUM_OF,
    MEDIUM_STYLE,
    NEW_TAKE_WORDS,
    QUESTION_WORD,
    RELATIVE,
    SLASH_COMMAND,
    THANKS,
    VAGUE_OBJECT,
    VARIATIONS,
    VERB_LEAD,
    WEAK_LEAD,
)
from imagechat.core.intents.words import normalize_style, number, strip_polite, tidy
from imagechat.settings import get_settings


@dataclass(frozen=True)
class Rule:
    name: str
    apply: Callable[[str, str, ChatContext], Decision | None]  # (s, raw, ctx)


def _slash_command(s: str, raw: str, ctx: ChatContext) -> Decision | None:
    # Matched on the text as typed: "/imagine a cake for me" keeps "for me" in the prompt.
    m = SLASH_COMMAND.match(raw.rstrip(" .!?"))
    if not m:
        return None
    return generate(m[1], n=None, style=None) if tidy(m[1]) else ASK_WHAT


def _courtesy_only(s: str, raw: str, ctx: ChatContext) -> Decision | None:
    return (_thanks(s, raw, ctx) or _help(s, raw, ctx)) if not s else None


def _again(s: str, raw: str, ctx: ChatContext) -> Decision | None:
    """"another one", "again": same prompt, same look, a new seed."""
    m = AGAIN.match(s)
    if not m:
        return None
    rest = s[m.end():].strip(" ,")
    rest = AGAIN_JOINER.sub("", rest) if rest else rest
    mods = [classify(p, bare=True) for _, p in split_parts(rest)] if rest else []
    if not all(mods):  # "another one of a dog" is a new picture
        return None
    if not ctx.last_prompt:
        return NO_IMAGE
    style = next((x.style for x in mods if x.style), ctx.last_style)
    size = next((x.size for x in mods if x.size), (ctx.last_width, ctx.last_height))
    quality = next((x.quality for x in mods if x.quality), None)
    n = next((x.n for x in mods if x.n is not None), 1)
    if n < 1:
        return how_many("images", get_settings().max_images_per_request)
    return make_intent("generate", ctx.last_prompt, style, size, n=n, quality=quality, said=KEEPS_LOOK | {"n"},
                       fresh=True)


def _variations(s: str, raw: str, ctx: ChatContext) -> Decision | None:
    """"3 variations", "give me three watercolor versions"."""
    m = VARIATIONS.fullmatch(s)
    if not m or (m["mods"] and not normalize_style(m["mods"]) and m["mods"].lower() not in NEW_TAKE_WORDS):
        return None
    if not ctx.has_last_image:
        return NO_IMAGE
    limit = get_settings().max_images_per_request
    n = number(m["num"]) if m["num"] else min(3, limit)
    if n < 1:
        return how_many("variations", limit)
    style = normalize_style(m["mods"]) or ctx.last_style
    return make_intent("variations", ctx.last_prompt or "the same image", style, (ctx.last_width, ctx.last_height),
                       n=n, source="last", said=KEEPS_LOOK | {"n"})


def _edit_with_verb(s: str, raw: str, ctx: ChatContext) -> Decision | None:
    """"make it more colorful", "turn it into a cartoon", "add a boat", "change the sky to purple"."""
    change = CHANGE_THE.match(s) if ctx.has_last_image else None
    if change:
        s = f"make the {change['what']} {change['to']}"
    lead = EDIT_LEAD.match(s)
    make_the = MAKE_THE.match(s) and ctx.has_last_image
    if not (lead or EDIT_VERB.match(s) or make_the):
        return None
    if not ctx.has_last_image:
        return NO_IMAGE
    body = s[lead.end():] if lead else s
    return edit(body, ctx, require_modifiers=False) or ASK_CHANGE


def _bare_modifier_edit(s: str, raw: str, ctx: ChatContext) -> Decision | None:
    """"wider", "as a cartoon", "in the style of Van Gogh", "watercolor version", "more colorful"."""
    weak = WEAK_LEAD.match(s)
    body = s[weak.end():] if weak else s
    if not body:
        return None
    result = edit(body, ctx, require_modifiers=True)
    if result is None:
        return None
    return result if ctx.has_last_image else NO_IMAGE


def _verb_and_object(s: str, raw: str, ctx: ChatContext) -> Decision | None:
    """"create an image of ...", "draw a cat"."""
    m = VERB_LEAD.match(s)
    if not m:
        return None
    verb = s.split()[0].lower()
    rest = tidy(m["rest"])
    if not rest or VAGUE_OBJECT.match(rest):
        return ASK_WHAT
    if QUESTION_WORD.match(rest) and not DETERMINER.match(rest):
        return help_reply()
    return object_phrase(rest, default_style=MEDIUM_STYLE.get(verb))


def _medium_of_subject(s: str, raw: str, ctx: ChatContext) -> Decision | None:
    """"an image of ...", "three watercolor paintings of ..." without a verb."""
    return object_phrase(s, default_style=None) if MEDIUM_OF.match(s) else None


def _noun_phrase(s: str, raw: str, ctx: ChatContext) -> Decision | None:
    """"a sunset over mountains"; not "the weather is nice" nor a question."""
    if raw.endswith("?") or not DETERMINER.match(s) or len(s.split()) < 2:
        return None
    copula, relative = COPULA.search(s), RELATIVE.search(s)
    if copula is None or (relative is not None and relative.start() < copula.start()):
        return generate(s, n=None, style=None)
    return None


def _thanks(s: str, raw: str, ctx: ChatContext) -> Decision | None:
    return WELCOME if THANKS.match(raw) else None


def _help(s: str, raw: str, ctx: ChatContext) -> Decision | None:
    return help_reply("Hi! " if GREETING.match(raw) else "")


RULES: tuple[Rule, ...] = (
    Rule("slash command", _slash_command),
    Rule("courtesy only", _courtesy_only),
    Rule("again", _again),
    Rule("variations", _variations),
    Rule("edit with verb", _edit_with_verb),
    Rule("bare modifier edit", _bare_modifier_edit),
    Rule("verb + object", _verb_and_object),
    Rule("medium of subject", _medium_of_subject),
    Rule("noun phrase", _noun_phrase),
    Rule("thanks", _thanks),
    Rule("help", _help),  # always answers
)


def parse_message(text: str, ctx: ChatContext) -> Decision:
    """Deterministic: the same text and context always give the same answer. Never raises."""
    raw = re.sub(r"\s+", " ", (text or "").replace("’", "'")).strip()
    limit = get_settings().max_prompt_chars
    # Checked before any rule: room for "can you create an image of", and it bounds the parser's work.
    if len(raw) > limit + 200:
        return TextReply(f"That message is {len(raw)} characters long; please keep prompts under {limit}.")
    s = tidy(strip_polite(raw.rstrip(" .!?")))
    for rule in RULES:
        decision = rule.apply(s, raw, ctx)
        if decision is not None:
            return decision
    raise AssertionError("the help rule always answers")
