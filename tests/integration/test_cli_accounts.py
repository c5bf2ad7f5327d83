"""`python -m imagechat users ...` and `invites ...` as an administrator runs them: real processes, the real
database and Redis, checked through the same domain calls the web routes use."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

import pytest

from imagechat.core import auth
from imagechat.core.auth import AccountDisabled
from tests.support.services import ROOT

GOOD = "correct-Horse-42"


def _cli(*args, stdin: str | None = None, env: dict | None = None, timeout: float = 120):
    return subprocess.run([sys.executable, "-m", "imagechat", *args], cwd=ROOT, env=env or os.environ.copy(),
                          input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def name(database_url, redis_url) -> str:
    return f"adm_{uuid.uuid4().hex[:8]}"


def test_create_an_administrator_who_can_log_in(name):
    run = _cli("users", "create", name, "--admin", "--password-stdin", stdin=GOOD + "\n")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"created {name} (administrator): they can log in now"
    user, _ = auth.log_in(name, GOOD)
    assert user.is_admin
    listed = _cli("users", "list")
    assert listed.returncode == 0 and any(line.startswith(name) and line.endswith("admin")
                                          for line in listed.stdout.splitlines())


def test_create_refuses_plainly(name):
    weak = _cli("users", "create", name, "--password-stdin", stdin="short\n")
    assert weak.returncode == 2 and weak.stderr.strip() == "error: Password must be at least 10 characters."
    no_tty = _cli("users", "create", name)
    assert no_tty.returncode == 2 and "--password-stdin" in no_tty.stderr
    assert _cli("users", "create", name, "--password-stdin", stdin=GOOD).returncode == 0
    taken = _cli("users", "create", name.upper(), "--password-stdin", stdin=GOOD)
    assert taken.returncode == 2 and taken.stderr.strip() == "error: That username is taken."
    for run in (weak, no_tty, taken):
        assert "Traceback" not in run.stderr


def test_disable_ends_every_session_and_refuses_log_in(name):
    auth.create_user(name, GOOD)
    _, token = auth.log_in(name, GOOD)
    run = _cli("users", "disable", name)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"disabled {name}: 1 session(s) ended; their open tabs return to the log-in page"
    assert auth.user_for_token(token) is None
    assert asyncio.run(auth.is_revoked(auth.token_hash(token)))  # what open tabs check every few seconds
    with pytest.raises(AccountDisabled):
        auth.log_in(name, GOOD)
    assert "disabled" in _cli("users", "list").stdout
    assert _cli("users", "enable", name).returncode == 0
    assert auth.log_in(name, GOOD)[0].username == name
    nobody = _cli("users", "disable", name + "x")
    assert nobody.returncode == 2 and nobody.stderr.strip() == f"error: There is no user named '{name}x'."


def test_invite_codes_from_the_command_line(name, private_namespace):
    run = _cli("invites", "create", "--days", "1")
    assert run.returncode == 0, run.stderr
    code = run.stdout.strip()
    assert len(code) == 19 and "valid until" in run.stderr
    private_namespace(allow_signup="invite")
    assert auth.sign_up(name, GOOD, invite_code=code).username == name
    bad = _cli("invites", "create", "--days", "0")
    assert bad.returncode == 2 and "at most 365 days" in bad.stderr
