"""Benchmark-only page (/bench/naive): the NAIVE design, for benchmarks/bench_browser.py to compare against.

Registered only when IMAGECHAT_BENCH_PAGES=1 (see imagechat/imagechat.py); never part of a normal run.
NaiveState.generate does what the Reflex example apps do: a plain (non-background) async handler that
awaits the image engine itself, so the tab's state lock is held for the whole generation and every
other event of that tab (here: `ping`) waits behind it. Do not copy this pattern into the app.
"""

import reflex as rx

from imagechat.core.providers.base import no_progress
from imagechat.core.providers.offline import OfflineProvider
from imagechat.core.request import ImageRequest

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


def naive_page() -> rx.Component:
    return rx.vstack(
        rx.button("Generate (naive)", on_click=NaiveState.generate, id="naive-generate"),
        rx.button("Ping", on_click=NaiveState.ping, id="naive-ping"),
        rx.text(NaiveState.pongs, id="naive-pongs"),
        rx.text(NaiveState.done, id="naive-done"),
        padding="16px",
    )


def add_bench_pages(app: rx.App) -> None:
    app.add_page(naive_page, route="/bench/naive", title="bench: naive handler")
