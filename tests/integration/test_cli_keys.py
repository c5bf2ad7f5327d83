"""`python -m imagechat keys ...` as a real process against the real database: the key is printed once (stdout
only, the explanation on stderr), listed by prefix, revoked, and only ever for an existing account."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from imagechat.core import api_keys, auth
from tests.support.services import ROOT


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "imagechat", *args], cwd=ROOT, env=os.environ.copy(),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)


@pytest.fixture
def name(database_url, redis_url) -> str:
    name = f"key_{uuid.uuid4().hex[:8]}"
    auth.create_user(name, "correct-Horse-42")
    return name


def test_create_list_and_revoke_a_key(name):
    run = _cli("keys", "create", "--user", name, "--name", "nightly job")
    assert run.returncode == 0, run.stderr
    key = run.stdout.strip()
    assert api_keys.KEY_PATTERN.fullmatch(key) and "shown only now" in run.stderr and key not in run.stderr
    owner = api_keys.authenticate(key)
    assert owner is not None and owner.username == name
    listed = _cli("keys", "list", "--user", name)
    assert listed.returncode == 0 and key not in listed.stdout
    (line,) = listed.stdout.splitlines()
    key_id = int(line.split()[0])
    assert f"{key[:12]}..." in line and "nightly job" in line and line.rstrip().endswith("active")
    revoked = _cli("--user", name, "keys", "revoke", str(key_id))  # --user before the command works too
    assert revoked.returncode == 0 and "requests with it now get 401" in revoked.stdout
    assert api_keys.authenticate(key) is None
    assert "revoked" in _cli("keys", "list", "--user", name).stdout


def test_refuses_unknown_users_and_other_users_keys(name):
    missing = _cli("keys", "create", "--user", f"nobody_{uuid.uuid4().hex[:6]}")
    assert missing.returncode == 2 and "there is no user" in missing.stderr and not missing.stdout
    key = _cli("keys", "create", "--user", name).stdout.strip()
    other = f"oth_{uuid.uuid4().hex[:8]}"
    auth.create_user(other, "correct-Horse-42")
    (view,) = api_keys.list_keys(api_keys.authenticate(key).user_id)
    wrong = _cli("keys", "revoke", str(view.id), "--user", other)
    assert wrong.returncode == 2 and "doesn't exist, or it isn't yours" in wrong.stderr
    assert "Traceback" not in wrong.stderr and api_keys.authenticate(key) is not None
