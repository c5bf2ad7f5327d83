"""Reflex configuration. Every value that varies per machine comes from the environment.

- The database is ours (imagechat/db.py, Alembic migrations): Reflex gets no db_url and creates no tables.
- REFLEX_REDIS_URL, when set, makes Reflex keep UI state in Redis (needed with several Granian workers
  and for pushing progress into any worker's client); `make run` and the e2e tests set it.
- Reflex's outbound probes are switched off by scripts/env.sh; telemetry is off here too.
- CORS (API routes and the websocket's Origin check) allows only the app's own origins (Settings.app_origins):
  CORS_ALLOWED_ORIGINS, else http://127.0.0.1:PORT and http://localhost:PORT, where PORT is the one
  `reflex run --frontend-port` was given (Reflex passes it on as REFLEX_FRONTEND_PORT) or APP_PORT.
"""

import os

import reflex as rx

from imagechat.settings import get_settings

_settings = get_settings()
_port = int(os.environ.get("REFLEX_FRONTEND_PORT") or _settings.app_port)

config = rx.Config(
    app_name="imagechat",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    db_url=None,
    redis_url=os.environ.get("REFLEX_REDIS_URL") or None,
    # Local only unless told otherwise (REFLEX_BACKEND_HOST overrides).
    backend_host="127.0.0.1",
    frontend_port=_settings.app_port,
    backend_port=_settings.backend_port,
    cors_allowed_origins=_settings.app_origins(_port),
    default_color_mode="light",
    plugins=[
        rx.plugins.RadixThemesPlugin(
            theme=rx.theme(accent_color="violet", gray_color="slate", radius="large", scaling="100%"),
        ),
    ],
    # The sitemap needs a public deploy URL we do not have; nothing here is for search engines.
    disable_plugins=[rx.plugins.SitemapPlugin],
)
