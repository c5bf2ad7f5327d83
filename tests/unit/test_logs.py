"""imagechat.logs: one line per record with ids, size rotation shared by processes, and no secrets in any line."""

from __future__ import annotations

import io
import json
import logging
import multiprocessing
import re

import pytest

from imagechat.logs import REDACTED, SharedRotatingFileHandler, configure_logging, log_path, main, tee
from imagechat.settings import Settings

OPENAI_KEY = "sk-proj-" + "Zq7" * 12
DB_PASSWORD = "db-pass-9f8e7d"
REDIS_PASSWORD = "redis-pass-5c4b3a"


@pytest.fixture
def root_logger():
    """configure_logging changes the root logger: restore it (pytest's own handlers included) afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)


def _settings(tmp_path, **overrides) -> Settings:
    values = dict(log_dir=str(tmp_path / "logs"), log_format="json", log_level="INFO", log_max_bytes=10_000,
                  log_backups=3, openai_api_key=OPENAI_KEY,
                  database_url=f"postgresql+psycopg://app:{DB_PASSWORD}@127.0.0.1:5432/imagechat",
                  redis_url=f"redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0")
    return Settings(**{**values, **overrides})


def _lines(path) -> list[str]:
    return path.read_text().splitlines()


def test_json_lines_carry_time_level_logger_message_and_ids(tmp_path, root_logger):
    stderr = io.StringIO()
    path = configure_logging("worker", settings=_settings(tmp_path), stream=stderr)
    assert path == tmp_path / "logs" / "imagechat-worker.log"
    log = logging.getLogger("imagechat.core.runner")
    log.info("job %s succeeded: %d image(s)", "j-1", 2, extra={"job_id": "j-1", "user_id": 42, "attempt": 1})
    log.debug("prompt: %s", "a private prompt")  # LOG_LEVEL=INFO: never written

    [line] = _lines(path)
    assert stderr.getvalue().splitlines() == [line]
    entry = json.loads(line)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry.pop("ts"))
    assert isinstance(entry.pop("pid"), int)
    assert entry == {"level": "INFO", "logger": "imagechat.core.runner", "process": "worker",
                     "msg": "job j-1 succeeded: 2 image(s)", "job_id": "j-1", "user_id": 42, "attempt": 1}
    assert list(json.loads(line))[:6] == ["ts", "level", "logger", "process", "pid", "msg"]
    assert "private prompt" not in path.read_text()


def test_text_format_is_key_value_and_one_line_per_record(tmp_path, root_logger):
    path = configure_logging("web", settings=_settings(tmp_path, log_format="text"), stream=io.StringIO())
    log = logging.getLogger("imagechat.test")
    log.warning('first line\nsecond line with "quotes"', extra={"job_id": "j-2", "user_id": 7})
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("crashed", extra={"job_id": "j-3"})

    lines = _lines(path)
    assert len(lines) == 2, "a newline in a message or a traceback must not start a new line"
    assert re.fullmatch(r'ts=\S+Z level=WARNING logger=imagechat\.test process=web pid=\d+ '
                        r'msg="first line\\nsecond line with \\"quotes\\"" job_id=j-2 user_id=7', lines[0])
    assert lines[1].startswith("ts=") and " msg=crashed job_id=j-3 exc=\"Traceback" in lines[1]
    assert "ValueError: boom" in lines[1]


def test_configure_logging_is_idempotent_and_keeps_foreign_handlers(tmp_path, root_logger):
    foreign = logging.NullHandler()
    root_logger.addHandler(foreign)
    root_logger.addHandler(logging.StreamHandler(io.StringIO()))  # like Dramatiq's basicConfig: replaced
    for _ in range(3):
        configure_logging("web", settings=_settings(tmp_path), stream=io.StringIO())
    ours = [h for h in root_logger.handlers if getattr(h, "_imagechat_handler", False)]
    assert len(ours) == 2 and foreign in root_logger.handlers
    assert not [h for h in root_logger.handlers if type(h) is logging.StreamHandler and h not in ours]
    logging.getLogger("x").info("once")
    assert len(_lines(log_path("web", _settings(tmp_path)))) == 1


def test_empty_log_dir_means_stderr_only(tmp_path, root_logger):
    stderr = io.StringIO()
    assert configure_logging("web", settings=_settings(tmp_path, log_dir=""), stream=stderr) is None
    logging.getLogger("x").info("hello")
    assert '"msg": "hello"' in stderr.getvalue()


def test_rotation_at_the_size_limit_keeps_the_configured_backups(tmp_path, root_logger):
    settings = _settings(tmp_path, log_max_bytes=10_000, log_backups=2)
    path = configure_logging("web", settings=settings, stream=io.StringIO())
    log = logging.getLogger("imagechat.test")
    for i in range(400):  # about 150 bytes a line: 60 kB in all
        log.info("record %04d %s", i, "x" * 40, extra={"job_id": f"job-{i}"})

    files = sorted(path.parent.glob("imagechat-web.log*"))
    assert [f.name for f in files if not f.name.endswith(".lock")] == [
        "imagechat-web.log", "imagechat-web.log.1", "imagechat-web.log.2"]
    for f in (path, path.with_name("imagechat-web.log.1"), path.with_name("imagechat-web.log.2")):
        assert 0 < f.stat().st_size <= 10_000
        for line in _lines(f):
            json.loads(line)  # never a line cut in two by a rotation
    assert json.loads(_lines(path)[-1])["msg"].startswith("record 0399")
    # The newest records survive, in order, across the current file and the backups.
    kept = [json.loads(line)["job_id"] for f in (path.with_name("imagechat-web.log.2"),
                                                 path.with_name("imagechat-web.log.1"), path) for line in _lines(f)]
    assert kept == [f"job-{i}" for i in range(400 - len(kept), 400)]


def _write_records(path: str, process: int, count: int) -> None:
    handler = SharedRotatingFileHandler(path, max_bytes=20_000, backups=50)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for i in range(count):
        handler.emit(logging.makeLogRecord({"msg": f"p{process} r{i:04d} " + "y" * 60}))
    handler.close()


def test_processes_sharing_one_file_rotate_without_losing_or_mixing_lines(tmp_path):
    path = tmp_path / "shared.log"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_write_records, args=(str(path), p, 500)) for p in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0

    files = [f for f in tmp_path.glob("shared.log*") if not f.name.endswith(".lock")]
    lines = [line for f in files for line in _lines(f)]
    assert len(files) > 3, "the writers should have rotated several times"
    assert all(f.stat().st_size <= 20_000 for f in files)
    assert sorted(lines) == sorted(f"p{p} r{i:04d} " + "y" * 60 for p in range(3) for i in range(500))


def test_secrets_never_reach_a_log_line(tmp_path, root_logger):
    settings = _settings(tmp_path)
    stderr = io.StringIO()
    path = configure_logging("web", settings=settings, stream=stderr)
    log = logging.getLogger("imagechat.core.providers.openai_images")
    key = settings.openai_api_key.get_secret_value()
    log.warning("request with key %s failed", key)
    log.info("settings: %s", settings)  # SecretStr prints as stars; the URLs carry passwords
    log.info("connecting to %s and %s", settings.database_url, settings.redis_url)
    log.info("header", extra={"authorization": f"Bearer {key}", "user_id": 3})
    log.info("another key-shaped value sk-live-abcdefghijklmnopqrstu must not leak either, nor ick_%s", "Q" * 43)
    try:
        raise RuntimeError(f"upstream said: invalid key {key}")
    except RuntimeError:
        log.exception("call failed")

    for text in (path.read_text(), stderr.getvalue()):
        assert len(text.splitlines()) == 6
        for secret in (key, key[:20], DB_PASSWORD, REDIS_PASSWORD, "sk-live-abcdefghijklmnopqrstu", "Q" * 20):
            assert secret not in text
        assert text.count(REDACTED) >= 8
        assert "postgresql+psycopg://app:[redacted]@127.0.0.1:5432/imagechat" in text


def test_tee_copies_and_rotates_console_output(tmp_path, capsys):
    settings = _settings(tmp_path, log_max_bytes=10_000, log_backups=1)
    lines = [f"console line {i} {'.' * 50} {OPENAI_KEY}\n".encode() for i in range(300)]  # about 25 kB
    tee(str(tmp_path / "reflex.log"), settings=settings, source=lines)
    out = capsys.readouterr().out
    assert out.count("console line") == 300 and OPENAI_KEY not in out
    files = sorted(tmp_path.glob("reflex.log*"))
    assert [f.name for f in files] == ["reflex.log", "reflex.log.1", "reflex.log.lock"]
    assert all(f.stat().st_size <= 10_000 for f in files)
    assert OPENAI_KEY not in (tmp_path / "reflex.log").read_text()
    assert (tmp_path / "reflex.log").read_text().endswith(f"console line 299 {'.' * 50} [redacted]\n")
    assert main(["tee"]) == 2


def test_frontend_exception_reports_are_rate_limited_and_size_capped(monkeypatch, caplog):
    from imagechat import web_security
    from imagechat.settings import get_settings

    now = [1000.0]
    monkeypatch.setenv("FRONTEND_ERROR_MAX_CHARS", "300")
    get_settings.cache_clear()
    monkeypatch.setattr(web_security, "_limiter", web_security.ReportLimiter(3, 5, clock=lambda: now[0]))
    caplog.set_level(logging.INFO, logger="imagechat.frontend")
    try:
        for client in ("a", "b"):  # Reflex's client_error reports start with the socket id
            for i in range(10):
                web_security.report_frontend_exception(
                    Exception(f"[SID: {client}] TypeError #{i}: \x1b[31m" + "x" * 100_000))
        reports = [r for r in caplog.records if r.getMessage().startswith("front-end exception:")]
        assert [r.getMessage()[:44] for r in reports] == (
            [f"front-end exception: [SID: a] TypeError #{i}: " for i in range(3)]
            + [f"front-end exception: [SID: b] TypeError #{i}: " for i in range(2)])
        assert not any("\x1b" in r.getMessage() for r in reports)  # control characters are blanked
        assert all(len(r.getMessage()) <= len("front-end exception: ") + 300 + len(" ...[cut]") for r in reports)
        assert all(r.chars > 100_000 and len(r.client) == 12 for r in reports)
        assert sum("over the limit" in r.getMessage() for r in caplog.records) == 1

        now[0] += 61  # a new minute: the count of dropped reports is logged, and reports flow again
        caplog.clear()
        web_security.report_frontend_exception(Exception("[SID: a] later"))
        assert [r.getMessage() for r in caplog.records] == [
            "dropped 15 front-end exception reports over the limit in the previous minute",
            "front-end exception: [SID: a] later"]
    finally:
        get_settings.cache_clear()


def test_report_limiter_bounds_clients_per_window():
    from imagechat.web_security import ReportLimiter

    limiter = ReportLimiter(per_client=1, total=10**9, clock=lambda: 0.0)
    limiter.MAX_CLIENTS = 100
    assert sum(limiter.allow(f"c{i}")[0] for i in range(1000)) == 100
    assert len(limiter._counts) == 100
