"""scripts/backup.py (docs/deploy.md's nightly timer): pg_dump of the real database, restored into a scratch
database as a check, old copies pruned; a failure exits non-zero without printing the URL's password."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

from sqlalchemy import func, text
from sqlalchemy.engine import make_url
from sqlmodel import select

from tests.support.services import ROOT

SCRATCH = text("SELECT count(*) FROM pg_database WHERE datname LIKE 'imagechat_restore%'")


def _backup(*args: str, database_url: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "backup.py"), *args], cwd=ROOT,
                          env={**os.environ, "DATABASE_URL": database_url}, capture_output=True, text=True, timeout=300)


def test_backup_restores_and_keeps_recent_copies(database_url, make_user, tmp_path):
    from imagechat.db import session_scope
    from imagechat.models import User

    make_user("backup")
    with session_scope() as s:
        users = s.exec(select(func.count()).select_from(User)).one()
        scratch_before = s.execute(SCRATCH).scalar()
    old = tmp_path / "imagechat-20000101T000000Z.dump"
    old.write_bytes(b"old")
    os.utime(old, (time.time() - 30 * 86400,) * 2)
    other = tmp_path / "notes.txt"
    other.write_text("kept")
    os.utime(other, (time.time() - 30 * 86400,) * 2)

    done = _backup(str(tmp_path), "--keep-days", "14", database_url=database_url)
    assert done.returncode == 0, done.stderr
    dumps = sorted(tmp_path.glob("imagechat-*.dump"))
    assert len(dumps) == 1 and dumps[0] != old and dumps[0].read_bytes().startswith(b"PGDMP")  # pg_dump custom format
    assert re.search(rf"restore check: ok \(users {users},", done.stdout), done.stdout  # the copy holds every user
    assert f"removed {old}" in done.stdout and other.exists() and not list(tmp_path.glob("*.part"))
    with session_scope() as s:  # the scratch database is gone again
        assert s.execute(SCRATCH).scalar() == scratch_before


def test_a_failed_backup_says_so_without_the_password(database_url, tmp_path):
    missing = make_url(database_url).set(database="no_such_database_here", password="sekret-pw-123")
    done = _backup(str(tmp_path), database_url=missing.render_as_string(hide_password=False))
    assert done.returncode == 1
    assert "backup FAILED" in done.stderr and "Traceback" not in done.stderr
    assert "sekret-pw-123" not in done.stdout + done.stderr
    assert list(tmp_path.iterdir()) == []  # no partial file left behind
