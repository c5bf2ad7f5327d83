"""The Reflex app: pages plus the Starlette API routes (image bytes etc.) on the same server."""

import reflex as rx
from starlette.applications import Starlette

from imagechat.api import routes as api_routes
from imagechat.pages.chat import chat_page

app = rx.App(
    api_transformer=Starlette(routes=list(api_routes)),
    head_components=[rx.el.meta(name="theme-color", content="#6e56cf")],
    html_lang="en",
    stylesheets=["/styles.css"],
)
app.add_page(chat_page, route="/", title="imagechat", description="Turn prompts into images on your own server.")
