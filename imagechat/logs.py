"""One logging setup for the web app and the workers: `configure_logging("web")` / `configure_logging("worker")`.

Every record becomes one line (JSON, or key=value with LOG_FORMAT=text) with a UTC timestamp, level, logger,
process name, pid and message, plus whatever the call passes in `extra=` (job_id, user_id, attempt, ...):

    log.info("job %s queued", job.id, extra={"job_id": job.id, "user_id": owner_id})
    {"ts": "2026-11-29T19:20:23.123Z", "level": "INFO", "logger": "imagechat.core.jobs", "process": "web",
     "pid": 4242, "msg": "job 0b6c... queued", "job_id": "0b6c...", "user_id": 7}

Lines go to stderr and to LOG_DIR/imagechat-<process>.log, rotated at LOG_MAX_BYTES with LOG_BACKUPS old files.
Several processes (Granian workers, Dramatiq worker processes) share one file: rotation happens under an
flock, and a process whose file was rotated by another reopens it. Known secrets (the OpenAI key, passwords in
DATABASE_URL/REDIS_URL) and anything shaped like an API key are replaced by [redacted] in every line.

Prompts are private: log them at DEBUG only (LOG_LEVEL=DEBUG), never at INFO.

`python -m imagechat.logs tee FILE [--quiet]` copies stdin to FILE with the same size rotation (and to stdout
unless --quiet): scripts/run.sh keeps the console output of Reflex and Dramatiq with it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import logging.handlers
import os
import re
import signal
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

from imagechat.settings import Settings, get_settings

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName",
                                                                            "color_message"}
# Fields that lead a line, in this order; extras follow sorted.
_IDS = ("job_id", "user_id")
# API-key shapes (OpenAI sk-..., imagechat's own ick_..., bearer tokens) and the password part of URLs.
_KEY_SHAPES = re.compile(r"\b(sk-[A-Za-z0-9_\-]{12,}|ick_[A-Za-z0-9_\-]{12,})|(?<=Bearer )[A-Za-z0-9._\-]{12,}")
_URL_PASSWORD = re.compile(r"(?<=://)([^/\s:@]*):([^/\s@]+)@")
REDACTED = "[redacted]"
_MARK = "_imagechat_handler"
_NOISY = {"httpx": logging.WARNING, "httpcore": logging.WARNING, "openai": logging.WARNING}


def _secrets(settings: Settings) -> list[str]:
    found = []
    if settings.openai_api_key is not None:
        found.append(settings.openai_api_key.get_secret_value())
    for url in (settings.database_url, settings.redis_url):
        with contextlib.suppress(ValueError):
            if password := urlsplit(url).password:
                found.append(password)
    return sorted({s for s in found if len(s) >= 4}, key=len, reverse=True)


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()):
        self.secrets = [s for s in secrets if s]

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        text = _KEY_SHAPES.sub(REDACTED, text)
        return _URL_PASSWORD.sub(lambda m: f"{m.group(1)}:{REDACTED}@", text)


def _plain(value):
    """JSON-friendly form of an extra: numbers, booleans and None stay, everything else becomes its str()."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(value)


class LineFormatter(logging.Formatter):
    """One line per record: JSON (`fmt="json"`) or key=value (`fmt="text"`); newlines inside values are escaped."""

    def __init__(self, fmt: str = "json", process_name: str = "", redact: Redactor | None = None):
        super().__init__()
        self.fmt, self.process_name, self.redact = fmt, process_name, redact or Redactor()

    def fields(self, record: logging.LogRecord) -> dict:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        entry = {"ts": ts, "level": record.levelname, "logger": record.name}
        if self.process_name:
            entry["process"] = self.process_name
        entry["pid"] = record.process
        try:
            message = record.getMessage()
        except Exception as exc:  # noqa: BLE001 - a bad format string must not lose the record
            message = f"{record.msg!r} (unformattable: {type(exc).__name__})"
        entry["msg"] = self.redact(message)
        extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}
        for key in (*[k for k in _IDS if k in extras], *sorted(k for k in extras if k not in _IDS)):
            if key not in entry:
                value = _plain(extras[key])
                entry[key] = self.redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exc"] = self.redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exc"] = self.redact(record.exc_text)
        if record.stack_info:
            entry["stack"] = self.redact(self.formatStack(record.stack_info))
        return entry

    def format(self, record: logging.LogRecord) -> str:
        entry = self.fields(record)
        if self.fmt == "json":
            return json.dumps(entry, ensure_ascii=False, separators=(", ", ": "))
        return " ".join(f"{key}={_kv(value)}" for key, value in entry.items())


def _kv(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text and not re.search(r'[\s"=\\]', text) and text.isprintable():
        return text
    return json.dumps(text, ensure_ascii=False)  # quoted, with \n, \" and \\ escaped: one line per record


class SharedRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A size-rotated file that several processes may append to.

    Each write takes an exclusive flock on `<file>.lock` (per process: the lock file is reopened after a fork),
    reopens the file when another process has rotated it (its inode changed), rotates when the line would push
    it past max_bytes, then writes and flushes. One stat and one flock per line.
    """

    def __init__(self, filename: str | os.PathLike, max_bytes: int, backups: int):
        super().__init__(filename, maxBytes=max_bytes, backupCount=max(1, backups), encoding="utf-8", delay=True)
        self._lock_path = self.baseFilename + ".lock"
        self._lock_fd: int | None = None
        self._lock_pid: int | None = None
        self._stream_pid: int | None = None

    @contextlib.contextmanager
    def _interprocess_lock(self) -> Iterator[None]:
        if self._lock_fd is None or self._lock_pid != os.getpid():
            self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            self._lock_pid = os.getpid()
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _current_stream(self):
        if self.stream is not None:
            try:
                rotated = os.stat(self.baseFilename).st_ino != os.fstat(self.stream.fileno()).st_ino
            except FileNotFoundError:
                rotated = True
            if rotated or self._stream_pid != os.getpid():
                with contextlib.suppress(OSError):
                    self.stream.close()
                self.stream = None
        if self.stream is None:
            self.stream = self._open()
            self._stream_pid = os.getpid()
        return self.stream

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
            size = len(line.encode("utf-8"))
            with self._interprocess_lock():
                stream = self._current_stream()
                stream.seek(0, os.SEEK_END)
                if stream.tell() and stream.tell() + size > self.maxBytes:
                    self.doRollover()
                    stream = self._current_stream()
                stream.write(line)
                stream.flush()
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001 - logging must never take the process down
            self.handleError(record)

    def close(self) -> None:
        super().close()
        if self._lock_fd is not None and self._lock_pid == os.getpid():
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
        self._lock_fd = None


def log_path(process_name: str, settings: Settings | None = None) -> Path | None:
    settings = settings or get_settings()
    if not settings.log_dir:
        return None
    return Path(settings.log_dir).expanduser().resolve() / f"imagechat-{process_name}.log"


def configure_logging(process_name: str, *, settings: Settings | None = None, stream=None) -> Path | None:
    """Send every record of this process to stderr and the rotating file; returns the file (None: no LOG_DIR).

    Idempotent, and safe after a fork: it replaces the handlers it installed before and plain stream handlers
    (logging.basicConfig's, e.g. Dramatiq's); handlers of other kinds (pytest's) are left alone.
    """
    settings = settings or get_settings()
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _MARK, False) or type(handler) is logging.StreamHandler:
            root.removeHandler(handler)
            with contextlib.suppress(Exception):
                if getattr(handler, _MARK, False):
                    handler.close()
    formatter = LineFormatter(settings.log_format, process_name, Redactor(_secrets(settings)))
    handlers: list[logging.Handler] = [logging.StreamHandler(stream if stream is not None else sys.stderr)]
    path = log_path(process_name, settings)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(SharedRotatingFileHandler(path, settings.log_max_bytes, settings.log_backups))
    for handler in handlers:
        setattr(handler, _MARK, True)
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(settings.log_level)
    for name, level in _NOISY.items():  # one INFO line per HTTP request is noise, not a record
        if logging.getLogger(name).level == logging.NOTSET:
            logging.getLogger(name).setLevel(level)
    return path


def tee(path: str, *, quiet: bool = False, settings: Settings | None = None, source=None) -> None:
    """Copy `source` (stdin) line by line to `path`, rotated like the logs, and to stdout unless quiet."""
    settings = settings or get_settings()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    handler = SharedRotatingFileHandler(path, settings.log_max_bytes, settings.log_backups)
    handler.terminator = ""
    handler.setFormatter(logging.Formatter("%(message)s"))
    redact = Redactor(_secrets(settings))
    out = sys.stdout
    for raw in source if source is not None else sys.stdin.buffer:
        text = redact(raw.decode("utf-8", errors="replace"))
        if not quiet:
            with contextlib.suppress(OSError):
                out.write(text)
                out.flush()
        handler.emit(logging.makeLogRecord({"msg": text, "args": None}))
    handler.close()


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "tee":
        quiet = "--quiet" in argv
        files = [a for a in argv[1:] if a != "--quiet"]
        if len(files) == 1:
            # Like `tee -i`, and for SIGTERM/SIGHUP too: Ctrl-C or a supervisor's TERM reaches the whole group, but the
            # writer (Reflex, Dramatiq) is still shutting down; keep copying until it closes the pipe (end of input).
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, signal.SIG_IGN)
            tee(files[0], quiet=quiet)
            return 0
    print("usage: python -m imagechat.logs tee FILE [--quiet]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
