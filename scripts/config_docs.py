"""Generate `.env.example` and the README configuration table from imagechat.settings.Settings.

    python scripts/config_docs.py env       # print .env.example
    python scripts/config_docs.py markdown  # print the README table
    python scripts/config_docs.py check     # exit 1 when .env.example or README.md is out of date (make test runs it)
    python scripts/config_docs.py write     # rewrite both

A field's help text is its `Field(description=...)` if it has one, else the entry in HELP below.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from imagechat.settings import Settings

ROOT = Path(__file__).resolve().parent.parent

HELP = {
    "database_url": "PostgreSQL (SQLAlchemy URL). make run/test detect or start one when unset",
    "redis_url": "Redis for the job queue, progress and rate limits",
    "image_engine": "auto = openai when OPENAI_API_KEY is set, else offline",
    "openai_api_key": "enables the OpenAI engine; never logged or sent to the browser",
    "openai_base_url": "OpenAI-compatible endpoint (tests use a local fake)",
    "openai_image_model": "gpt-image-2, gpt-image-2.5-flare, gpt-image-2.5-sunburst, ... (models and prices: "
                          "imagechat/core/providers/image_models.py; a shut-down name such as gpt-image-1, "
                          "gpt-image-1.5 or dall-e-3 is refused with its replacement)",
    "openai_chat_model": "model that turns chat text into image requests",
    "openai_timeout_s": "per-request timeout, seconds",
    "openai_max_retries": "retries on 429/5xx",
    "openai_partial_images": "streamed previews per image (0-3)",
    "diffusers_model_path": "local Stable Diffusion folder (needs requirements-sd.txt)",
    "diffusers_steps": "denoising steps",
    "max_prompt_chars": "longest accepted prompt",
    "max_images_per_request": "most images one message may ask for",
    "rate_limit": "requests per user (limits syntax, e.g. 10/minute)",
    "user_daily_budget_usd": "spend cap per user per day",
    "user_monthly_budget_usd": "spend cap per user per month",
    "global_monthly_budget_usd": "spend cap for the whole server per month",
    "job_time_limit_s": "a generation job is stopped after this long",
    "job_max_attempts": "attempts before a job is marked failed",
    "job_stale_after_s": "a running job with no heartbeat this long is requeued",
    "worker_processes": "Dramatiq worker processes started by make run",
    "worker_threads": "threads per worker process",
    "worker_poll_ms": "max idle sleep of a worker between queue polls",
    "stored_format": "format images are stored in",
    "stored_quality": "encoder quality for webp/jpeg",
    "thumbnail_px": "longest side of thumbnails",
    "max_image_pixels": "largest accepted image (width x height)",
    "app_port": "the app's port (prod: pages, websocket and API on one port)",
    "backend_port": "backend port in dev mode only (make dev)",
}


def _default(name: str, field) -> str:
    value = field.default
    if value is None:
        return ""
    if hasattr(value, "get_secret_value"):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 100_000:
        return str(value)
    return str(value)


def rows():
    for name, field in Settings.model_fields.items():
        help_text = field.description or HELP.get(name, "")
        yield name.upper(), _default(name, field), help_text


def env_example() -> str:
    lines = [
        "# imagechat configuration: copy to .env (or export the variables) and uncomment what you change.",
        "# Every value shown is the default. DATABASE_URL/REDIS_URL, when set, turn off service detection.",
        "# Generated from imagechat/settings.py by `python scripts/config_docs.py write`.",
        "",
    ]
    for var, default, help_text in rows():
        lines.append(f"# {help_text}" if help_text else "#")
        # All commented out: an empty value is not "unset" (OPENAI_API_KEY= would count as a key).
        lines.append(f"# {var}={default}")
    return "\n".join(lines) + "\n"


def markdown() -> str:
    out = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for var, default, help_text in rows():
        out.append(f"| `{var}` | {f'`{default}`' if default else '(unset)'} | {help_text} |")
    return "\n".join(out) + "\n"


BEGIN, END = "<!-- config-table:begin -->", "<!-- config-table:end -->"


def readme_with_table(text: str) -> str:
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)
    return pattern.sub(lambda _: f"{BEGIN}\n{markdown()}{END}", text)


def main(cmd: str) -> int:
    env_path, readme_path = ROOT / ".env.example", ROOT / "README.md"
    if cmd == "env":
        print(env_example(), end="")
    elif cmd == "markdown":
        print(markdown(), end="")
    elif cmd == "write":
        env_path.write_text(env_example())
        readme_path.write_text(readme_with_table(readme_path.read_text()))
    elif cmd == "check":
        missing = [var for var, _, h in rows() if not h]
        stale = [p.name for p, want in ((env_path, env_example()),
                                         (readme_path, readme_with_table(readme_path.read_text())))
                 if not p.exists() or p.read_text() != want]
        if missing:
            print(f"settings without a description: {', '.join(missing)} (add Field(description=...))", file=sys.stderr)
        if stale:
            print(f"out of date: {', '.join(stale)}; run: python scripts/config_docs.py write", file=sys.stderr)
        return 1 if missing or stale else 0
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ""))
