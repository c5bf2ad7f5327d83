"""Errors with a message a user can act on. `user_message` is safe to show; `code` is stable."""

from __future__ import annotations

from imagechat.core.text import unmarked


class ImagechatError(Exception):
    code = "error"
    retryable = False

    def __init__(self, user_message: str, *, code: str | None = None, retry_after_s: float | None = None):
        user_message = unmarked(user_message)  # messages may echo user text and are shown in notifications
        super().__init__(user_message)
        self.user_message = user_message
        self.retry_after_s = retry_after_s  # when trying again makes sense (rate limits, busy engines)
        if code:
            self.code = code


class InvalidRequest(ImagechatError):
    code = "invalid_request"


class InvalidImage(ImagechatError):
    code = "invalid_image"


class RateLimited(ImagechatError):
    code = "rate_limited"


class BudgetExceeded(ImagechatError):
    code = "budget_exceeded"


class ContentRefused(ImagechatError):
    """The engine refused the prompt (content policy). Never retried."""

    code = "content_refused"


class EngineUnavailable(ImagechatError):
    """Engine misconfigured or not installed. Not retried."""

    code = "engine_unavailable"


class ServiceUnavailable(ImagechatError):
    """PostgreSQL or Redis cannot be reached right now. Safe to try again later."""

    code = "service_unavailable"
    retryable = True


class StorageUnavailable(ServiceUnavailable):
    """The object store holding image bytes (IMAGE_STORE=s3) cannot be reached or refuses us right now.
    Reads answer 503; a job's store step is retried like a busy engine (core.runner). Safe to try again."""

    code = "storage_unavailable"


class TransientEngineError(ImagechatError):
    """Timeouts, 5xx, 429 from the engine: retried with backoff."""

    code = "engine_error"
    retryable = True


class NotFound(ImagechatError):
    code = "not_found"
