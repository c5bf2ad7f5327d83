"""Back up the PostgreSQL database, prove the copy restores, and keep the last few days of copies.

    python scripts/backup.py DIR [--keep-days 14] [--no-check]

1. `pg_dump --format=custom` of DATABASE_URL (the app's own setting; `postgresql+psycopg://` is turned into the
   `postgresql://` form libpq reads) into DIR/imagechat-<UTC time>.dump, written as .part and renamed when whole;
2. the restore check: `pg_restore` of that file into a scratch database on the same server (its user needs
   CREATEDB; --no-check skips this), which must end without error and hold the same Alembic revision as the
   source, then is dropped; the row counts of the main tables are printed;
3. copies older than --keep-days are deleted (only files named imagechat-*.dump, and never the newest).

Exit code 0 only when every step passed. The URL (it may hold a password) is never printed. With IMAGE_STORE=s3
the image bytes are in the bucket, not in this dump: back that up too (docs/deploy.md).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

TABLES = ("users", "conversations", "generation_jobs", "images", "usage_ledger")


def libpq_url(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _run(args: list[str]) -> None:
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:  # libpq messages name the host and database, never the password
        raise RuntimeError(f"{args[0]} failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")


def _revision_and_counts(url: URL) -> tuple[str | None, dict[str, int]]:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            counts = {t: conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar() for t in TABLES}
        return revision, counts
    finally:
        engine.dispose()


def dump(url: URL, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"imagechat-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.dump"
    partial = target.with_suffix(".dump.part")
    try:
        _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={partial}", libpq_url(url)])
    except RuntimeError:
        partial.unlink(missing_ok=True)
        raise
    partial.rename(target)
    return target


def check_restore(url: URL, path: Path) -> dict[str, int]:
    """Restore `path` into a scratch database next to the source; the same Alembic revision or an error."""
    scratch = f"imagechat_restore_check_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{scratch}"'))
        try:
            _run(["pg_restore", "--exit-on-error", "--no-owner", "--no-privileges",
                  f"--dbname={libpq_url(url.set(database=scratch))}", str(path)])
            source_revision, _ = _revision_and_counts(url)
            revision, counts = _revision_and_counts(url.set(database=scratch))
            if revision != source_revision:
                raise RuntimeError(f"the restored copy is at revision {revision}, the database at {source_revision}")
            return counts
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))
    finally:
        admin.dispose()


def prune(directory: Path, keep_days: float, newest: Path) -> list[Path]:
    cutoff = time.time() - keep_days * 86400
    old = [p for p in directory.glob("imagechat-*.dump") if p != newest and p.stat().st_mtime < cutoff]
    for path in old:
        path.unlink()
    return old


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--keep-days", type=float, default=14.0)
    parser.add_argument("--no-check", action="store_true", help="skip the restore check")
    args = parser.parse_args(argv)
    from imagechat.settings import get_settings

    url = make_url(os.environ.get("DATABASE_URL") or get_settings().database_url)
    try:
        path = dump(url, args.directory)
        print(f"backup: {path} ({path.stat().st_size} bytes)")
        if not args.no_check:
            counts = check_restore(url, path)
            print("restore check: ok (" + ", ".join(f"{t} {n}" for t, n in counts.items()) + ")")
        for old in prune(args.directory, args.keep_days, path):
            print(f"removed {old}")
    except (RuntimeError, OSError) as exc:
        print(f"backup FAILED: {exc}", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:  # the driver's message names the host and database, never the password
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        print(f"backup FAILED: {type(exc).__name__}: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
