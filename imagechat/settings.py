"""One settings object. Every knob is an environment variable with a safe default."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-]+(:\d{1,5})?$|^https?://\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Services
    database_url: str = "postgresql+psycopg://127.0.0.1:5432/imagechat"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_namespace: str = Field("imagechat", description="prefix of every Redis key (queue, progress, limits)")
    redis_max_connections: int = Field(50, ge=2, description="Redis connections per process and pool (callers wait)")

    # Engines
    image_engine: Literal["auto", "offline", "openai", "diffusers"] = Field(
        "auto", description="auto = openai when OPENAI_API_KEY is set, else offline"
    )
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_image_model: str = "gpt-image-2"
    openai_extra_image_models: str = Field(
        "", description="more OpenAI image models users may pick under the message box, comma-separated (e.g. "
                        "gpt-image-2.5-flare); OPENAI_IMAGE_MODEL stays the default. Empty = only that one")
    openai_chat_model: str = "gpt-5.4-mini"
    openai_timeout_s: float = 120.0
    openai_max_retries: int = 3
    openai_partial_images: int = Field(2, ge=0, le=3)
    diffusers_model_path: str | None = None
    diffusers_steps: int = 25

    # Requests
    max_prompt_chars: int = 4000
    max_images_per_request: int = 4

    # Limits and budgets (USD)
    rate_limit: str = "10/minute"
    chat_rate_limit: str = Field("20/minute", description="chat-model answers per user (with OPENAI_API_KEY)")
    chat_max_in_flight_per_user: int = Field(2, ge=1, description="chat-model answers being written at once, per user")
    user_daily_budget_usd: float = 2.0
    user_monthly_budget_usd: float = 20.0
    global_monthly_budget_usd: float = 200.0

    # Accounts
    allow_signup: Literal["open", "invite", "closed"] = Field(
        "open", description="who may create an account on the web page: open = anyone who can reach the app (the "
                            "first account becomes the administrator), invite = only with a code from `python -m "
                            "imagechat invites create`, closed = nobody (`python -m imagechat users create`). Set "
                            "invite or closed before exposing the app beyond this machine")
    session_days: int = Field(30, ge=1, le=365, description="a log-in stays valid this many days (then the tabs "
                                                            "it opened return to the log-in page)")
    session_check_s: float = Field(2.0, ge=0.5, le=60, description="how often an open tab checks that its session "
                                                                   "still exists (log-out elsewhere, revocation)")
    login_limit_per_address: str = Field("20/minute", description="log-in attempts per client address (limits "
                                                                  "syntax, e.g. 20/minute)")
    signup_limit_per_address: str = Field("5/hour", description="sign-up attempts per client address")
    share_limit_per_address: str = Field("300/minute", description="requests to public share links (pages and "
                                                                   "their images) per client address")
    auth_limit_per_username: str = Field("10/10 minutes", description="log-in attempts, and separately sign-up "
                                                                      "attempts, per username")
    password_hash_threads: int = Field(2, ge=1, le=32, description="threads that hash and check passwords "
                                                                   "(argon2id, 64 MiB each), apart from all others")
    password_hash_queue: int = Field(16, ge=0, le=1000, description="log-ins that may wait for a hashing thread; "
                                                                    "more are told the server is busy")
    trusted_proxy_hops: int = Field(0, ge=0, le=5, description="reverse proxies in front of the app whose "
                                                               "X-Forwarded-For/-Proto headers are believed (0 = "
                                                               "none: the connection's own address and scheme)")

    @field_validator("login_limit_per_address", "signup_limit_per_address", "share_limit_per_address",
                     "auth_limit_per_username")
    @classmethod
    def _check_limit(cls, value: str) -> str:
        import limits

        try:
            limits.parse(value)
        except ValueError:
            raise ValueError(f"not a rate limit (limits syntax, e.g. 20/minute or 10/10 minutes): {value!r}") from None
        return value

    # Jobs
    job_time_limit_s: int = 300
    job_max_attempts: int = 3
    job_stale_after_s: int = 90
    max_jobs_in_flight_per_user: int = Field(
        2, ge=1, description="a user's jobs on the queue or running; more wait their turn (fair scheduling)")
    worker_processes: int = 1
    worker_threads: int = 2
    worker_nice: int = Field(10, ge=0, le=19, description="CPU priority of worker processes (higher = lower)")
    worker_poll_ms: int = Field(50, ge=5, le=1000, description="max idle sleep of a worker between queue polls")

    # Storage
    stored_format: Literal["webp", "png", "jpeg"] = "webp"
    stored_quality: int = Field(90, ge=1, le=100)
    thumbnail_px: int = 320
    max_image_pixels: int = 40_000_000
    request_cache_hours: float = Field(24.0, ge=0, le=24 * 365, description="an identical request (same prompt, "
                                       "style, size, quality, count, engine and model, no seed) within this many "
                                       "hours is answered with the user's existing images at no cost; 0 = never")
    download_cache_mb: int = Field(64, ge=0, le=4096, description="converted downloads (format x size) kept in "
                                                                  "memory per web process, least recently used "
                                                                  "dropped first; 0 = convert every time")
    delete_undo_seconds: int = Field(30, ge=5, le=3600, description="a deleted image can be restored (Undo) for "
                                                                   "this many seconds; the workers remove it "
                                                                   "for good a minute after that")

    # Object storage (image bytes; metadata always stays in PostgreSQL)
    image_store: Literal["postgres", "s3"] = Field(
        "postgres", description="where new images' bytes go: postgres = Base64 in the database (nothing else to "
                                "run), s3 = an S3-compatible object store (AWS S3, Cloudflare R2, MinIO, "
                                "SeaweedFS; the S3_* settings). Each image remembers its store, so changing this "
                                "affects new images only: move the others with `python -m imagechat storage "
                                "migrate --to s3|postgres`")
    s3_endpoint_url: str | None = Field(
        None, description="the S3 API endpoint, e.g. http://127.0.0.1:8333 (SeaweedFS), http://minio:9000 or "
                          "https://ACCOUNT.r2.cloudflarestorage.com; empty = AWS S3 in S3_REGION")
    s3_bucket: str = Field("imagechat", description="bucket holding the images (create it first; it stays private)")
    s3_region: str = Field("us-east-1", description="the bucket's region (R2: auto)")
    s3_access_key_id: SecretStr | None = Field(
        None, description="access key id; empty = the usual AWS credential chain (AWS_* variables, instance role)")
    s3_secret_access_key: SecretStr | None = Field(
        None, description="secret access key (never logged or shown)")
    s3_prefix: str = Field("images/", description="key prefix inside the bucket: an image's key is the prefix "
                                                  "and its id, its thumbnail's the same plus .thumb.webp")
    s3_addressing_style: Literal["auto", "path", "virtual"] = Field(
        "auto", description="path = http://host/bucket/key (MinIO, SeaweedFS), virtual = http://bucket.host/key; "
                            "auto lets the client choose")
    s3_timeout_s: float = Field(10.0, ge=0.5, le=300, description="connect and read timeout of one S3 request; "
                                                                  "a failed request is tried 3 times in all")
    s3_presign: bool = Field(
        False, description="true = image routes answer the owner with a redirect (302) to a short-lived presigned "
                           "URL and the browser downloads from the store itself (less traffic through the app); "
                           "false = the app streams the bytes from the store")
    s3_presign_seconds: int = Field(300, ge=30, le=604_800, description="lifetime of a presigned URL; a URL is "
                                                                        "reused for half of it, so browsers can "
                                                                        "cache the image")
    s3_presign_endpoint_url: str | None = Field(
        None, description="the store's address as browsers reach it, for presigned URLs (when it differs from "
                          "S3_ENDPOINT_URL, e.g. an internal host name); empty = S3_ENDPOINT_URL")

    @field_validator("s3_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        value = value.lstrip("/")
        if len(value) > 200 or any(ord(c) < 32 for c in value):
            raise ValueError("S3_PREFIX: at most 200 printable characters")
        return value

    # Web
    app_port: int = 3000
    backend_port: int = 8000
    cors_allowed_origins: Annotated[list[str] | None, NoDecode] = Field(
        None,
        description="comma-separated origins the browser uses for this app (e.g. https://chat.example.com); "
                    "only they may call the API and open the websocket. Empty = http://127.0.0.1:APP_PORT "
                    "and http://localhost:APP_PORT",
    )
    frontend_errors_per_minute: int = Field(
        5, ge=0, description="front-end exception reports logged per browser tab and minute (more are dropped)")
    frontend_errors_per_minute_total: int = Field(
        30, ge=0, description="front-end exception reports logged per web process and minute, all tabs together")
    frontend_error_max_chars: int = Field(
        2000, ge=100, description="longest front-end exception report written to the log (the rest is cut)")
    metrics_allow_localhost: bool = Field(
        True, description="true = /metrics answers a client on this machine (127.0.0.1 or ::1, after "
                          "TRUSTED_PROXY_HOPS) without a session, e.g. a local Prometheus; false = only an "
                          "administrator's session may read it. Everyone else gets 404")

    # Logs
    log_dir: str = Field(".data/logs", description="directory of the rotating log files (relative: to the "
                                                   "directory the app starts in); empty = stderr only")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="INFO and above never include prompt text (private); DEBUG may")
    log_format: Literal["json", "text"] = Field("json", description="json = one JSON object a line; "
                                                                    "text = key=value pairs")
    log_max_bytes: int = Field(10_000_000, ge=10_000, description="a log file is rotated when it would grow "
                                                                  "past this size (bytes)")
    log_backups: int = Field(5, ge=1, description="rotated log files kept per log (name.log.1 ... name.log.N)")

    @field_validator("openai_api_key", mode="before")
    @classmethod
    def _blank_key_is_none(cls, value):
        """`OPENAI_API_KEY=` (a line of .env.example uncommented and left empty) means no key, not an empty one."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("cors_allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value):
        if isinstance(value, str):  # a JSON list or comma-separated
            text = value.strip()
            value = json.loads(text) if text.startswith("[") else [part for part in re.split(r"[,\s]+", text) if part]
        return value

    @field_validator("cors_allowed_origins")
    @classmethod
    def _check_origins(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        origins = [origin.rstrip("/") for origin in value]
        bad = [origin for origin in origins if not _ORIGIN.match(origin)]
        if bad:  # "*" or a path would widen CORS to anything, or never match the browser's Origin header
            raise ValueError(f"not an origin (scheme://host[:port], no wildcard, no path): {', '.join(bad)}")
        return origins

    def app_origins(self, port: int | None = None) -> list[str]:
        """The origins the browser loads this app from: CORS_ALLOWED_ORIGINS, or the local ones on `port`."""
        if self.cors_allowed_origins:
            return list(self.cors_allowed_origins)
        port = port or self.app_port
        return [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]

    def offered_image_models(self) -> list[str]:
        """OPENAI_IMAGE_MODEL first, then OPENAI_EXTRA_IMAGE_MODELS, without repeats or blanks."""
        names = [self.openai_image_model, *self.openai_extra_image_models.split(",")]
        return list(dict.fromkeys(n.strip() for n in names if n.strip()))

    def resolved_engine(self) -> str:
        if self.image_engine != "auto":
            return self.image_engine
        return "openai" if self.openai_api_key else "offline"


@lru_cache
def get_settings() -> Settings:
    return Settings()
