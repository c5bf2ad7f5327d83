"""The Reflex app: pages plus the Starlette API routes (image bytes etc.) on the same server.

Logging is configured here (imagechat.logs) for every process that loads the app: the Reflex CLI and each
Granian worker. `web_security.secure_app`, the last api_transformer, wraps the whole ASGI app Reflex builds
(pages, assets, the /_event websocket and our routes) with the security headers and the websocket Origin check.
"""

import contextlib
import os

import reflex as rx
from starlette.applications import Starlette

from imagechat import web_security
from imagechat.api import routes as api_routes
from imagechat.components.gallery_grid import early_first_page_script
from imagechat.core import assistant, providers
from imagechat.logs import configure_logging
from imagechat.pages.admin import admin_page
from imagechat.pages.chat import chat_page
from imagechat.pages.gallery import gallery_page
from imagechat.pages.history import history_page
from imagechat.pages.login import login_page
from imagechat.pages.settings import settings_page
from imagechat.pages.shares import shares_page
from imagechat.pages.usage import usage_page
from imagechat.state.admin import AdminState
from imagechat.state.api_keys import ApiKeyState
from imagechat.state.auth import AuthState
from imagechat.state.chat import ChatState
from imagechat.state.detail import DetailState
from imagechat.state.gallery import GalleryState
from imagechat.state.history import HistoryState
from imagechat.state.session import SessionState
from imagechat.state.shares import ShareState
from imagechat.state.usage import BudgetState, UsageState

configure_logging("web")


@contextlib.asynccontextmanager
async def _close_clients_on_shutdown():
    """Engines and the chat model keep HTTP connection pools for the whole process; close them last."""
    yield
    await providers.close_all()
    await assistant.close()


app = rx.App(
    api_transformer=[Starlette(routes=list(api_routes)), web_security.secure_app],
    frontend_exception_handler=web_security.report_frontend_exception,
    # A full load of /gallery fetches its first cards without waiting for the websocket.
    # notify.js: finished-job notices in the title and as browser notifications (state/session.py).
    head_components=[rx.el.meta(name="theme-color", content="#6e56cf"), early_first_page_script(),
                     rx.el.script(src="/notify.js", defer=True)],
    html_lang="en",
    stylesheets=["/styles.css", "/gallery-grid.css"],
)
app.register_lifespan_task(_close_clients_on_shutdown)
app.add_page(chat_page, route="/", title="imagechat", description="Turn prompts into images on your own server.",
             on_load=[ChatState.load, BudgetState.refresh, SessionState.watch_session])
app.add_page(login_page, route="/login", title="Log in · imagechat", on_load=AuthState.skip_login_if_signed_in)
app.add_page(gallery_page, route="/gallery", title="Gallery · imagechat",
             on_load=[GalleryState.load, DetailState.load, SessionState.watch_session])
app.add_page(history_page, route="/history", title="History · imagechat",
             on_load=[HistoryState.load, SessionState.watch_session])
app.add_page(shares_page, route="/shares", title="Shared links · imagechat",
             on_load=[ShareState.load, SessionState.watch_session])
app.add_page(usage_page, route="/usage", title="Usage · imagechat",
             on_load=[UsageState.load, SessionState.watch_session])
app.add_page(settings_page, route="/settings", title="Settings · imagechat",
             on_load=[ApiKeyState.load, SessionState.watch_session])
app.add_page(admin_page, route="/admin", title="Admin · imagechat",
             on_load=[AdminState.load, SessionState.watch_session])
if os.environ.get("IMAGECHAT_BENCH_PAGES") == "1":  # benchmarks/bench_browser.py, bench_scale.py; else off
    from imagechat.pages.bench import add_bench_pages

    add_bench_pages(app)
