"""Benchmark-only pages: the NAIVE designs, for benchmarks/bench_browser.py and bench_scale.py to compare against.

Registered only when IMAGECHAT_BENCH_PAGES=1 (see imagechat/imagechat.py); never part of a normal run.

- /bench/naive: NaiveState.generate is a plain (non-background) async handler that awaits the image engine
  itself, so the tab's state lock is held for the whole generation and every other event of that tab (here:
  `ping`) waits behind it.
- /bench/blocking: BlockingState.generate is the shape of the `dalle` template in reflex-dev/templates: a plain
  handler calling the synchronous OpenAI client. Reflex runs a sync handler on the web process's event loop, so
  for the whole API call every tab served by that process waits, not only this one.

Do not copy either pattern into the app.
"""

import openai
import reflex as rx

from imagechat.core.providers.base import no_progress
from imagechat.core.providers.offline import OfflineProvider
from imagechat.core.request import ImageRequest
from imagechat.settings import get_settings

PROMPT = "a city skyline at night"


class NaiveState(rx.State):
    pongs: int = 0
    done: int = 0

    @rx.event
    async def generate(self):
        # The naive shape: the engine runs inside the handler (its CPU work is in a thread, so the event
        # loop stays free; only this tab's lock is held, which is the kindest version of the pattern).
        await OfflineProvider().generate(ImageRequest(prompt=PROMPT, width=1792, height=1024, n=4),
                                         no_progress)
        self.done += 1

    @rx.event
    def ping(self):
        self.pongs += 1


class BlockingState(rx.State):
    pongs: int = 0
    done: int = 0

    @rx.event
    def generate(self):
        settings = get_settings()  # the bench points OPENAI_BASE_URL at the local fake server
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
        with openai.OpenAI(api_key=key, base_url=settings.openai_base_url, max_retries=0) as client:
            client.images.generate(model=settings.openai_image_model, prompt=PROMPT, n=1, size="1024x1024")
        self.done += 1

    @rx.event
    def ping(self):
        self.pongs += 1


def _bench_page(name: str, state: type[NaiveState] | type[BlockingState]) -> rx.Component:
    return rx.vstack(
        rx.button(f"Generate ({name})", on_click=state.generate, id=f"{name}-generate"),
        rx.button("Ping", on_click=state.ping, id=f"{name}-ping"),
        rx.text(state.pongs, id=f"{name}-pongs"),
        rx.text(state.done, id=f"{name}-done"),
        padding="16px",
    )


def naive_page() -> rx.Component:
    return _bench_page("naive", NaiveState)


def blocking_page() -> rx.Component:
    return _bench_page("blocking", BlockingState)


def add_bench_pages(app: rx.App) -> None:
    app.add_page(naive_page, route="/bench/naive", title="bench: naive handler")
    app.add_page(blocking_page, route="/bench/blocking", title="bench: blocking handler")
