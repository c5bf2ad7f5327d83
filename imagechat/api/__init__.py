"""Starlette routes mounted next to the Reflex app (image bytes, downloads, share links).

Each module exposes `routes: list[starlette.routing.BaseRoute]`; add it to `routes` below.
In `reflex run --env prod` they are served on the app's single port; in dev, on the backend port.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from imagechat.api import admin, auth, exports, gallery, health, images, masks, openai_compat, share, style_previews

routes: list[BaseRoute] = [*auth.routes, *masks.routes, *images.routes, *gallery.routes, *exports.routes,
                           *share.routes, *admin.routes, *style_previews.routes, *health.routes,
                           *openai_compat.routes]
