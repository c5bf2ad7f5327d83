"""The composer on the real stack: its options reach the job's params and the stored images (the words of a
message win over them), the engine and model choice, suggestions scoped to their owner, and Enhance through
the chat model (fake OpenAI server, real HTTP, metered) with the offline enhancer as its fallback."""

from __future__ import annotations

import asyncio
import io
import uuid

import pytest
from PIL import Image as PILImage
from sqlmodel import select

from imagechat.core import chat, conversations, enhance, jobs, library, options, organise, suggestions
from imagechat.core.errors import InvalidRequest
from imagechat.core.options import ComposerOptions, check_options, engine_choices
from imagechat.core.request import ImageRequest
from imagechat.db import session_scope
from imagechat.models import GenerationJob, UsageEntry
from imagechat.settings import Settings
from imagechat.state.chat import shown_message
from tests.support.waiting import finish

KEY = f"sk-test-{uuid.uuid4().hex}"


def _say(owner: int, conversation_id: int, text: str, chosen: ComposerOptions | None = None) -> chat.Turn:
    return asyncio.run(chat.respond(owner, conversation_id, text, options=chosen))


def _job(owner: int, job_id) -> GenerationJob:
    return jobs.get_job(owner, job_id)


@pytest.fixture
def owner(make_user, worker):
    return make_user()


def test_options_reach_the_job_params_the_stored_images_and_their_labels(owner):
    conv = conversations.create(owner).id
    chosen = check_options(style="watercolor", width=1792, height=1024, quality="high", n=2)
    turn = _say(owner, conv, "a lighthouse on a cliff at dusk", chosen)
    job = _job(owner, turn.job_id)
    assert (job.engine, job.params["style"], job.params["width"], job.params["height"], job.params["n"],
            job.params["quality"]) == ("offline", "watercolor", 1792, 1024, 2, "high")
    assert turn.reply.startswith("Generating 2 images")
    assert finish(turn.job_id).status == "succeeded"

    view = conversations.messages(owner, conv)[-1]
    assert [(i.width, i.height, i.style, i.engine) for i in view.images] == [(1792, 1024, "watercolor", "offline")] * 2
    for ref in view.images:
        stored = library.get_image(owner, uuid.UUID(ref.id))
        assert stored.prompt == job.prompt == "a lighthouse on a cliff at dusk"  # the final prompt is stored
    shown = shown_message(view)
    assert shown.options == "2 images · watercolor · 1792×1024 · high · offline"
    assert [i.label for i in shown.images] == ["watercolor · 1792×1024 · high · offline"] * 2


def test_the_words_win_over_the_options_and_the_reply_says_so(owner):
    conv = conversations.create(owner).id
    chosen = check_options(style="sketch", width=1792, height=1024, quality="low", n=2)
    turn = _say(owner, conv, "a lighthouse on a cliff, 3 of them, tall, in high quality", chosen)
    job = _job(owner, turn.job_id)
    jobs.cancel(owner, turn.job_id)
    # Said in words: count, shape, quality. Not said: the style, which the chip sets.
    assert (job.prompt, job.params["style"], job.params["width"], job.params["height"], job.params["n"],
            job.params["quality"]) == ("a lighthouse on a cliff", "sketch", 1024, 1792, 3, "high")
    assert "Your message asked for 1024×1792, high quality, 3 images" in turn.reply
    assert "(1792×1024, low quality, 2 images)" in turn.reply

    plain = _say(owner, conv, "a fox in the snow", chosen)
    job = _job(owner, plain.job_id)
    jobs.cancel(owner, plain.job_id)
    assert (job.params["style"], job.params["width"], job.params["n"], job.params["quality"]) == (
        "sketch", 1792, 2, "low")
    assert "asked for" not in plain.reply


def test_a_change_of_the_last_image_keeps_its_look_but_takes_the_quality(owner):
    conv = conversations.create(owner).id
    first = _say(owner, conv, "a fox in the snow")
    assert finish(first.job_id).status == "succeeded"
    chosen = check_options(style="cartoon", width=1024, height=1792, quality="high", n=3)
    change = _say(owner, conv, "make it more colorful", chosen)
    job = _job(owner, change.job_id)
    jobs.cancel(owner, change.job_id)
    assert (job.params["style"], job.params["width"], job.params["height"], job.params["n"],
            job.params["quality"]) == (None, 1024, 1024, 1, "high")


@pytest.mark.parametrize("kwargs,message", [
    (dict(style="baroque"), "Unknown style"),
    (dict(quality="ultra"), "Quality must be"),
    (dict(n=0), "number of images"),
    (dict(n=True), "number of images"),
    (dict(n=99), "number of images"),
    (dict(width=10), "width"),
    (dict(height="1024"), "height"),
    (dict(engine="openai"), "engine isn't available"),
    (dict(engine="offline", model="gpt-image-2"), "Choose one of the models"),
])
def test_options_are_checked(database_url, kwargs, message):
    with pytest.raises(InvalidRequest) as err:
        check_options(**kwargs)
    assert message in err.value.user_message


def test_engine_and_model_choice(make_user, private_namespace, fake):
    private_namespace(openai_api_key=KEY, openai_base_url=fake.base_url, image_engine="openai",
                      openai_chat_model="", openai_extra_image_models="gpt-image-2.5-flare, gpt-image-1.5")
    choices = engine_choices()
    assert [(c.name, c.models) for c in choices] == [
        ("openai", ("gpt-image-2", "gpt-image-2.5-flare")),  # gpt-image-1.5 is shut down: not offered
        ("offline", ("imagechat procedural painter v1 (offline, no AI model)",))]
    owner = make_user()
    conv = conversations.create(owner).id
    offline = _say(owner, conv, "a harbor at dawn", check_options(engine="offline", width=1792, height=1024))
    flare = _say(owner, conv, "a harbor at dawn", check_options(engine="openai", model="gpt-image-2.5-flare"))
    default = _say(owner, conv, "a harbor at dawn", check_options())
    try:
        got = [(j.engine, j.model) for j in (_job(owner, t.job_id) for t in (offline, flare, default))]
        assert got == [("offline", "imagechat procedural painter v1 (offline, no AI model)"),
                       ("openai", "gpt-image-2.5-flare"), ("openai", "gpt-image-2")]
        assert _job(owner, offline.job_id).params["width"] == 1792
    finally:
        for turn in (offline, flare, default):
            if turn.job_id:
                jobs.cancel(owner, turn.job_id)
    # A model the server does not offer never reaches a job, whatever a client sends.
    with pytest.raises(InvalidRequest):
        check_options(engine="openai", model="gpt-image-1")
    with pytest.raises(InvalidRequest):
        jobs.submit(owner, ImageRequest(prompt="a cat", engine="openai", model="dall-e-3"))


def test_made_size_tells_the_size_an_engine_makes(private_namespace, fake):
    private_namespace(openai_api_key=KEY, openai_base_url=fake.base_url, image_engine="openai",
                      openai_image_model="gpt-image-2", openai_extra_image_models="gpt-image-2.6-flare")
    assert options.made_size(check_options(width=1792, height=1024)) == (1792, 1024)
    assert options.made_size(check_options(width=1792, height=1024, engine="openai",
                                           model="gpt-image-2.6-flare")) == (1536, 1024)
    assert options.made_size(check_options(width=1000, height=1000, engine="offline")) == (992, 992)


# ---------------------------------------------------------------- suggestions


def _image(owner: int, prompt: str) -> uuid.UUID:
    png = io.BytesIO()
    PILImage.new("RGB", (64, 64), (90, 120, 200)).save(png, "PNG")
    with session_scope() as s:
        job = GenerationJob(owner_id=owner, engine="offline", model="seed", prompt=prompt, status="succeeded",
                            percent=100.0, params={"style": None, "width": 64, "height": 64, "n": 1})
        s.add(job)
        s.flush()
        (image_id,) = library.add_images(s, owner_id=owner, job_id=job.id, prompt=prompt, style=None,
                                         engine="offline", model="seed", conversation_id=None,
                                         parent_image_id=None,
                                         new_images=[library.NewImage(library.prepare(png.getvalue()), 1, None)])
    return image_id


def test_suggestions_are_the_owners_own_prompts_then_starters(make_user):
    alice, bob = make_user(), make_user()
    _image(alice, "a lighthouse on a cliff in the fog")
    _image(alice, "a lighthouse at night, 100% moonlit")
    gone = _image(alice, "a lighthouse made of glass")
    _image(bob, "a lighthouse painted by bob")
    organise.delete_images(alice, [gone])

    got = suggestions.suggest(alice, "lighthou", limit=5)
    assert [(s.text, s.kind) for s in got[:2]] == [("a lighthouse at night, 100% moonlit", "recent"),
                                                  ("a lighthouse on a cliff in the fog", "recent")]
    assert all(s.kind == "starter" for s in got[2:]) and got[2:]  # then curated starters
    assert not any("bob" in s.text or "glass" in s.text for s in got)
    assert [s.text for s in suggestions.suggest(bob, "lighthouse painted")] == ["a lighthouse painted by bob"]
    # Several words all count; LIKE wildcards are plain characters; too little typed suggests nothing.
    assert [s.text for s in suggestions.suggest(alice, "fog cliff")] == ["a lighthouse on a cliff in the fog"]
    assert [s.text for s in suggestions.suggest(alice, "100%")] == ["a lighthouse at night, 100% moonlit"]
    assert suggestions.suggest(alice, "%") == [] and suggestions.suggest(alice, "_ _") == []
    assert suggestions.suggest(alice, "l") == []
    # The text itself is not suggested back.
    assert "a lighthouse on a cliff in the fog" not in [
        s.text for s in suggestions.suggest(alice, "a lighthouse on a cliff in the fog")]


# ---------------------------------------------------------------- Enhance through the chat model


def _settings(fake) -> Settings:
    return Settings(_env_file=None, openai_api_key=KEY, openai_base_url=fake.base_url, openai_timeout_s=10.0,
                    openai_max_retries=0)


def _chat_entries(owner: int) -> list[UsageEntry]:
    with session_scope() as s:
        return list(s.exec(select(UsageEntry).where(UsageEntry.owner_id == owner,
                                                    UsageEntry.engine == "openai-chat")).all())


@pytest.mark.usefixtures("clean_fake")
def test_enhance_uses_the_chat_model_metered(make_user, fake):
    owner = make_user()
    better = "A lighthouse on a cliff at night, low angle, moonlit rim light, 35mm lens, in watercolor"
    fake.script_chat(text=better)
    result = asyncio.run(enhance.enhance(owner, "a lighthouse on a cliff at night, in watercolor",
                                         settings=_settings(fake)))
    assert (result.after, result.source, result.note) == (better, enhance.CHAT_MODEL, "")
    (req,) = fake.chat_requests()
    assert "tools" not in req.params and req.params["messages"][-1]["content"].startswith("a lighthouse")
    assert "composition" in req.params["messages"][0]["content"]
    (entry,) = _chat_entries(owner)
    assert entry.status == "charged" and entry.amount_usd > 0  # counted against the user's budget


@pytest.mark.usefixtures("clean_fake")
@pytest.mark.parametrize("script,note", [
    (dict(text="A wolf on a cliff at night, 35mm lens, in watercolor"), "changed what you asked for"),
    (dict(text="A lighthouse on a cliff at night, as an oil painting"), "changed what you asked for"),
    (dict(fault="500"), "couldn't answer"),
])
def test_enhance_falls_back_to_the_offline_enhancer(make_user, fake, script, note):
    owner = make_user()
    fake.script_chat(**script)
    draft = "a lighthouse on a cliff at night, in watercolor"
    result = asyncio.run(enhance.enhance(owner, draft, settings=_settings(fake)))
    assert result.source == enhance.OFFLINE and note in result.note
    assert result.after == enhance.enhance_offline(draft).after
