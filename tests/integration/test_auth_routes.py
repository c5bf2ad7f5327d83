"""The log-in, sign-up and log-out routes over HTTP (Starlette's TestClient), on the real database and Redis:
cookie flags, the redirect-or-JSON answers, throttling without argon2, CSRF refusals, log-out, modes."""

from __future__ import annotations

import threading
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from imagechat.api import auth as routes
from imagechat.core import auth
from imagechat.core.auth import SESSION_COOKIE

GOOD = "correct-Horse-42"


@pytest.fixture
def app(database_url, redis_url):
    return Starlette(routes=routes.routes)


@pytest.fixture
def client(app):
    with TestClient(app, follow_redirects=False) as c:
        yield c


@pytest.fixture
def user(database_url, redis_url) -> str:
    name = f"r{uuid.uuid4().hex[:10]}"
    auth.sign_up(name, GOOD)
    return name


def _cookie_header(response) -> str:
    values = [v for v in response.headers.get_list("set-cookie") if v.startswith(f"{SESSION_COOKIE}=")]
    assert len(values) == 1, response.headers.get_list("set-cookie")
    return values[0]


def _attributes(set_cookie: str) -> dict[str, str]:
    parts = [p.strip() for p in set_cookie.split(";")]
    return {p.split("=", 1)[0].lower(): (p.split("=", 1)[1] if "=" in p else "") for p in parts[1:]}


def _query(response) -> dict[str, str]:
    location = urlsplit(response.headers["location"])
    assert location.path == "/login"
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def _count_verify(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = auth.verify_password
    monkeypatch.setattr(auth, "verify_password", lambda h, p: calls.append(1) or real(h, p))
    return calls


# ---------------------------------------------------------------- log-in and the cookie


def test_form_login_sets_an_httponly_strict_cookie_and_goes_home(client, user):
    r = client.post("/api/auth/login", data={"username": user.upper(), "password": GOOD})
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert r.headers["cache-control"] == "no-store"
    raw = _cookie_header(r)
    token = raw.split(";")[0].split("=", 1)[1]
    attrs = _attributes(raw)
    assert "httponly" in attrs and attrs["samesite"].lower() == "strict" and attrs["path"] == "/"
    assert "secure" not in attrs  # plain http: a Secure cookie would never come back
    assert int(attrs["max-age"]) == 30 * 86400
    assert auth.user_for_token(token).username == user


def test_cookie_is_secure_over_https(app, user):
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as c:
        r = c.post("/api/auth/login", data={"username": user, "password": GOOD})
    assert r.status_code == 303 and "secure" in _attributes(_cookie_header(r))


def test_forwarded_proto_counts_only_behind_a_trusted_proxy(client, user, private_namespace):
    r = client.post("/api/auth/login", data={"username": user, "password": GOOD},
                    headers={"X-Forwarded-Proto": "https"})
    assert "secure" not in _attributes(_cookie_header(r))  # anyone can send that header
    private_namespace(trusted_proxy_hops=1)
    r = client.post("/api/auth/login", data={"username": user, "password": GOOD},
                    headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"})
    assert "secure" in _attributes(_cookie_header(r))


def test_json_login(client, user):
    r = client.post("/api/auth/login", json={"username": user, "password": GOOD})
    assert r.status_code == 200 and r.json() == {"ok": True, "username": user}
    assert "httponly" in _attributes(_cookie_header(r))


def test_wrong_password_goes_back_with_a_code_never_with_text(client, user):
    r = client.post("/api/auth/login", data={"username": user, "password": "wrong-Password-1"})
    assert r.status_code == 303 and "set-cookie" not in r.headers
    assert _query(r) == {"error": "invalid_credentials", "tab": "login", "username": user}
    assert auth.message_for("invalid_credentials") == "Wrong username or password."
    r = client.post("/api/auth/login", data={"username": "<img src=x>", "password": "x"})
    assert _query(r) == {"error": "invalid_credentials", "tab": "login"}  # a name of the wrong shape is not echoed


def test_json_refusals_have_a_status_and_a_message(client, user):
    r = client.post("/api/auth/login", json={"username": user, "password": "wrong-Password-1"})
    assert r.status_code == 401
    assert r.json() == {"ok": False, "error": "invalid_credentials", "message": "Wrong username or password."}
    r = client.post("/api/auth/signup", json={"username": f"n{uuid.uuid4().hex[:8]}", "password": "short"})
    assert r.status_code == 422 and r.json()["error"] == "password_too_short"
    assert r.json()["message"] == "Password must be at least 10 characters."


@pytest.mark.parametrize("kwargs", [
    {"content": b"username=a&password=b", "headers": {"Content-Type": "text/plain"}},
    {"content": b"[1, 2]", "headers": {"Content-Type": "application/json"}},
    {"content": b'{"username": 5, "password": "x"}', "headers": {"Content-Type": "application/json"}},
    {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
    {"content": b"username=" + b"a" * 9000, "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
    {"content": b"\xff\xfe=\xff", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
])
def test_unreadable_bodies_are_refused_plainly(client, database_url, redis_url, kwargs):
    r = client.post("/api/auth/login", **kwargs)
    if r.status_code == 303:
        assert _query(r)["error"] == "bad_request"
    else:
        assert r.status_code == 400 and r.json()["error"] == "bad_request"
        assert r.json()["message"] == "The form could not be read. Reload the page and try again."


def test_only_post(client, database_url, redis_url):
    for path in ("/api/auth/login", "/api/auth/signup", "/api/auth/logout"):
        assert client.get(path).status_code == 405


# ---------------------------------------------------------------- throttling


def test_throttled_per_address_without_running_argon2(client, user, private_namespace, monkeypatch):
    private_namespace(login_limit_per_address="2/minute")
    calls = _count_verify(monkeypatch)
    for _ in range(2):
        assert _query(client.post("/api/auth/login", data={"username": user, "password": "nope-Nope-1"}))[
            "error"] == "invalid_credentials"
    r = client.post("/api/auth/login", data={"username": user, "password": GOOD})
    query = _query(r)
    assert query["error"] == "login_throttled" and 1 <= int(query["wait"]) <= 60 and "set-cookie" not in r.headers
    r = client.post("/api/auth/login", json={"username": user, "password": GOOD})
    assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 60
    assert r.json()["message"].startswith("Too many log-in attempts. Wait ")
    assert len(calls) == 2  # the throttled attempts never reached argon2


def test_forwarded_for_is_the_address_only_behind_a_trusted_proxy(client, user, private_namespace):
    private_namespace(login_limit_per_address="1/minute")
    spoofed = [client.post("/api/auth/login", json={"username": user, "password": GOOD},
                           headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code for i in range(2)]
    assert spoofed == [200, 429]  # a client cannot pick a fresh address per attempt

    private_namespace(login_limit_per_address="1/minute", trusted_proxy_hops=1)
    proxied = [client.post("/api/auth/login", json={"username": user, "password": GOOD},
                           headers={"X-Forwarded-For": f"10.9.9.9, 198.51.100.{i}"}).status_code
               for i in (1, 2, 2)]
    assert proxied == [200, 200, 429]  # the address the proxy saw (the right-most hop) is what counts


def test_throttled_per_username(client, user, private_namespace):
    private_namespace(auth_limit_per_username="1/minute", trusted_proxy_hops=1)
    first = client.post("/api/auth/login", json={"username": user, "password": GOOD},
                        headers={"X-Forwarded-For": "198.51.100.20"})
    second = client.post("/api/auth/login", json={"username": user, "password": GOOD},
                         headers={"X-Forwarded-For": "198.51.100.21"})
    assert (first.status_code, second.status_code) == (200, 429)


def test_signup_is_throttled_per_address(client, private_namespace, monkeypatch):
    private_namespace(signup_limit_per_address="1/minute")
    hashed: list[int] = []
    real = auth.hash_password
    monkeypatch.setattr(auth, "hash_password", lambda p: hashed.append(1) or real(p))
    ok = client.post("/api/auth/signup", data={"username": f"s{uuid.uuid4().hex[:8]}", "password": GOOD})
    refused = client.post("/api/auth/signup", data={"username": f"s{uuid.uuid4().hex[:8]}", "password": GOOD})
    assert ok.headers["location"] == "/" and _query(refused)["error"] == "signup_throttled"
    assert _query(refused)["tab"] == "signup" and len(hashed) == 1


def test_a_flood_is_told_busy_rather_than_queued(client, user, private_namespace):
    private_namespace(password_hash_threads=1, password_hash_queue=0)
    release = threading.Event()
    blocker = auth.hash_pool().submit(release.wait, 30)
    try:
        r = client.post("/api/auth/login", json={"username": user, "password": GOOD})
    finally:
        release.set()
        blocker.result(timeout=30)
    assert r.status_code == 503 and r.json()["error"] == "busy"


# ---------------------------------------------------------------- cross-site requests


@pytest.mark.parametrize("headers", [
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
    {"Referer": "https://evil.example/page"},
    {"Sec-Fetch-Site": "cross-site", "Origin": "http://testserver"},
    {"Sec-Fetch-Site": "same-site"},
])
def test_cross_site_posts_are_refused(client, user, headers):
    r = client.post("/api/auth/login", data={"username": user, "password": GOOD}, headers=headers)
    assert r.status_code == 303 and _query(r)["error"] == "bad_origin" and "set-cookie" not in r.headers
    r = client.post("/api/auth/login", json={"username": user, "password": GOOD}, headers=headers)
    assert r.status_code == 403 and r.json()["error"] == "bad_origin"


@pytest.mark.parametrize("headers", [
    {"Origin": "http://testserver"},
    {"Referer": "http://testserver/login?error=x"},
    # A page served with Referrer-Policy: no-referrer makes the browser send Origin: null with a same-origin
    # form post; the browser's own Sec-Fetch-Site says where it really came from.
    {"Sec-Fetch-Site": "same-origin", "Origin": "null"},
    {},
])
def test_same_origin_posts_and_scripts_are_accepted(client, user, headers):
    r = client.post("/api/auth/login", data={"username": user, "password": GOOD}, headers=headers)
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_cross_site_logout_is_refused(client, user):
    token = client.post("/api/auth/login", data={"username": user, "password": GOOD}).cookies[SESSION_COOKIE]
    r = client.post("/api/auth/logout", cookies={SESSION_COOKIE: token}, headers={"Origin": "https://evil.example"})
    assert _query(r)["error"] == "bad_origin" and auth.user_for_token(token) is not None


# ---------------------------------------------------------------- log-out, disabled users, sign-up modes


def test_logout_ends_the_session_and_clears_the_cookie(client, user):
    token = client.post("/api/auth/login", data={"username": user, "password": GOOD}).cookies[SESSION_COOKIE]
    client.cookies.clear()
    r = client.post("/api/auth/logout", cookies={SESSION_COOKIE: token})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    raw = _cookie_header(r)
    attrs = _attributes(raw)
    assert raw.startswith(f'{SESSION_COOKIE}="";') or raw.startswith(f"{SESSION_COOKIE}=;")
    assert attrs["max-age"] == "0" and "httponly" in attrs and attrs["path"] == "/"
    assert auth.user_for_token(token) is None
    again = client.post("/api/auth/logout", headers={"Accept": "application/json"})  # no cookie: harmless
    assert again.status_code == 200 and again.json() == {"ok": True}


def test_disabled_user_is_refused_after_the_password(client, user):
    auth.set_disabled(user, True)
    try:
        wrong = client.post("/api/auth/login", data={"username": user, "password": "wrong-Password-1"})
        right = client.post("/api/auth/login", data={"username": user, "password": GOOD})
    finally:
        auth.set_disabled(user, False)
    assert _query(wrong)["error"] == "invalid_credentials"
    assert _query(right)["error"] == "account_disabled" and "set-cookie" not in right.headers


def test_signup_open_signs_in(client, database_url, redis_url):
    name = f"o{uuid.uuid4().hex[:8]}"
    r = client.post("/api/auth/signup", data={"username": name, "password": GOOD})
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert auth.user_for_token(r.cookies[SESSION_COOKIE]).username == name


def test_signup_closed_and_invite_modes(client, private_namespace):
    private_namespace(allow_signup="closed")
    name = f"i{uuid.uuid4().hex[:8]}"
    assert _query(client.post("/api/auth/signup", data={"username": name, "password": GOOD}))["error"] == \
        "signup_closed"
    private_namespace(allow_signup="invite")
    refused = _query(client.post("/api/auth/signup", data={"username": name, "password": GOOD}))
    assert refused == {"error": "invite_required", "tab": "signup", "username": name}
    code, _ = auth.create_invite(1)
    r = client.post("/api/auth/signup", data={"username": name, "password": GOOD, "invite": code})
    assert r.headers["location"] == "/" and SESSION_COOKIE in r.cookies
    again = client.post("/api/auth/signup", data={"username": name + "x", "password": GOOD, "invite": code})
    assert _query(again)["error"] == "invalid_invite"
