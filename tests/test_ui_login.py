"""Logging in to the web UI of ``shipyard server --auth`` through the real app: the redirect
to the login page, bad tokens (401 with the message), the session cookie (no secret in it,
HttpOnly, SameSite), pages with it, CSRF on changes (403 without the token), logout, token
management (create shows the secret once, revoke ends the sessions on that token), what a
viewer neither sees nor may do, and the API never taking the cookie."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shipyard.server.app import create_app_from_uris
from shipyard.server.ui import login, login_session
from shipyard.services.auth import AuthService
from shipyard.store.db import create_db_engine

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from starlette.testclient import TestClient

HX = {"HX-Request": "true"}


@dataclass
class Site:
    http: TestClient
    auth: AuthService
    tokens: dict[str, str]


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    monkeypatch.setenv("SHIPYARD_AUDIT_KEY", "ui-login-test-key-0123456789abcdef")
    monkeypatch.setenv("SHIPYARD_SERVER_AUTH_CACHE_SECONDS", "0")  # revocation is immediate
    login_session.forget_secret()
    db_url = f"sqlite:///{tmp_path / 'meta.db'}"
    engine = create_db_engine(db_url)
    service = AuthService(engine)
    tokens = {}
    for name, role in (("ada", "admin"), ("vera", "viewer")):
        _user, tokens[name] = service.create_user(name, role=role, actor="ops")
    app = create_app_from_uris(db_url, str(tmp_path / "artifacts"), auth=True)
    with TestClient(app) as http:
        yield Site(http, service, tokens)
    engine.dispose()


def log_in(site: Site, user: str, next_page: str = "/ui/experiments") -> None:
    answer = site.http.post("/ui/login", data={"token": site.tokens[user], "next": next_page},
                            follow_redirects=False)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == next_page


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert found is not None
    return found.group(1)


def test_pages_redirect_to_the_login_page_and_come_back(site: Site) -> None:
    http = site.http
    answer = http.get("/ui/pipelines?x=1", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/login?next=%2Fui%2Fpipelines%3Fx%3D1"
    assert http.get("/ui/static/ui.css").status_code == 200  # no data: open
    page = http.get(answer.headers["location"])
    assert page.status_code == 200 and '<label for="token">API token</label>' in page.text
    assert 'name="next" value="/ui/pipelines?x=1"' in page.text
    # htmx gets a redirect it follows as a whole page, back to the page the user was on.
    part = http.get("/ui/pipelines/runs/abc/dag", headers={
        **HX, "HX-Current-URL": "http://testserver/ui/pipelines/runs/abc"})
    assert part.status_code == 401
    assert part.headers["HX-Redirect"] == "/ui/login?next=%2Fui%2Fpipelines%2Fruns%2Fabc"
    # A change without credentials is told to log in, as a page.
    refused = http.post("/ui/tokens", data={"description": "x"})
    assert refused.status_code == 401 and "log in first" in refused.text


@pytest.mark.parametrize(("token", "message"), [
    ("", "enter an API token"),
    ("not-a-token", "the API token is malformed"),
    ("shy_0123456789ab_" + "0" * 64, "API token 0123456789ab is not valid"),
])
def test_a_bad_token_is_a_401_page_with_the_message(site: Site, token: str,
                                                    message: str) -> None:
    page = site.http.post("/ui/login", data={"token": token, "next": "/ui/audit"})
    assert page.status_code == 401
    found = re.search(r'<p class="error" role="alert" id="token-error">([^<]+)</p>', page.text)
    assert found is not None and message in found.group(1)
    assert "0" * 64 not in page.text and 'aria-invalid="true"' in page.text
    assert "set-cookie" not in page.headers


def test_a_good_token_sets_a_session_cookie_that_opens_the_pages(site: Site) -> None:
    http = site.http
    answer = http.post("/ui/login", data={"token": site.tokens["ada"], "next": "/ui/audit"},
                       follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/audit"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{login_session.COOKIE}=") and "HttpOnly" in cookie
    assert "SameSite=lax" in cookie and "Path=/" in cookie and "Max-Age=43200" in cookie
    secret = site.tokens["ada"].split("_")[2]
    assert secret not in cookie and site.tokens["ada"] not in cookie
    for url in ("/ui/experiments", "/ui/pipelines", "/ui/audit", "/ui/tokens"):
        page = http.get(url, follow_redirects=False)
        assert page.status_code == 200, url
        assert 'title="Your API tokens">ada</a>' in page.text and "/ui/logout" in page.text
    # The API never takes the cookie: a page elsewhere could otherwise make calls with it.
    assert http.get("/api/v1/experiments").status_code == 401
    # A forged or altered cookie is no session.
    http.cookies.set(login_session.COOKIE, http.cookies[login_session.COOKIE][:-2] + "00")
    assert http.get("/ui/experiments", follow_redirects=False).status_code == 303


def test_bearer_tokens_still_open_ui_pages(site: Site) -> None:
    page = site.http.get("/ui/experiments",
                         headers={"Authorization": f"Bearer {site.tokens['vera']}"})
    assert page.status_code == 200 and "/ui/logout" not in page.text


def test_next_never_leaves_the_ui() -> None:
    assert login.safe_next("/ui/runs/abc?dir=x") == "/ui/runs/abc?dir=x"
    for outside in ("https://evil.example/", "//evil.example/ui", "/api/v1/experiments",
                    "/ui/login", "", "ui/experiments", "/\\evil.example"):
        assert login.safe_next(outside) == "/ui/experiments", outside


def test_changes_need_the_csrf_token(site: Site) -> None:
    http = site.http
    log_in(site, "ada")
    missing = http.post("/ui/tokens", data={"description": "ci"})
    assert missing.status_code == 403 and "CSRF token is missing" in missing.text
    wrong = http.post("/ui/tokens", data={"description": "ci", "csrf_token": "0" * 64})
    assert wrong.status_code == 403
    token = csrf(http.get("/ui/tokens").text)
    made = http.post("/ui/tokens", data={"description": "ci", "csrf_token": token})
    assert made.status_code == 201
    header = http.post("/ui/tokens", data={"description": "ci2"},
                       headers={login_session.CSRF_HEADER: token})
    assert header.status_code == 201  # htmx-style requests send it as a header
    multipart = http.post("/ui/tokens", files={"csrf_token": (None, token)})
    assert multipart.status_code == 201  # a multipart form's field counts too
    # Another origin cannot log a browser in as someone else.
    forged = http.post("/ui/login", data={"token": site.tokens["vera"]},
                       headers={"Origin": "https://evil.example"})
    assert forged.status_code == 403


def test_logout_ends_the_session(site: Site) -> None:
    http = site.http
    log_in(site, "vera")
    out = http.get("/ui/logout", follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/ui/login?logged_out=1"
    assert 'Max-Age=0' in out.headers["set-cookie"]
    assert "You have logged out." in http.get(out.headers["location"]).text
    assert http.get("/ui/experiments", follow_redirects=False).status_code == 303


def test_create_and_revoke_tokens(site: Site) -> None:
    http = site.http
    log_in(site, "vera")
    page = http.get("/ui/tokens").text
    assert len(re.findall(r"<tr data-token=", page)) == 1  # the token she logged in with
    made = http.post("/ui/tokens", data={"description": "notebook", "expires_in_days": "30",
                                         "csrf_token": csrf(page)})
    assert made.status_code == 201 and made.headers["cache-control"] == "no-store"
    secret = re.search(r'id="new-token" readonly value="(shy_[0-9a-f_]+)"', made.text)
    assert secret is not None and "shown only this once" in made.text
    new_id = secret.group(1).split("_")[1]
    assert secret.group(1) not in http.get("/ui/tokens").text  # never again
    assert site.http.get("/api/v1/experiments", headers={
        "Authorization": f"Bearer {secret.group(1)}"}).status_code == 200
    bad = http.post("/ui/tokens", data={"expires_in_days": "soon", "csrf_token": csrf(page)})
    assert bad.status_code == 400 and "expires in days &#39;soon&#39; is not a number" in bad.text

    revoked = http.post(f"/ui/tokens/{new_id}/revoke", data={"csrf_token": csrf(page)},
                        follow_redirects=False)
    assert revoked.status_code == 303
    listing = http.get(revoked.headers["location"]).text
    assert f"Token {new_id} is revoked." in listing
    assert re.search(rf'<tr data-token="{new_id}">.*?<td>revoked</td>', listing, re.S)
    # Revoking the token the session stands for ends the session.
    own = site.tokens["vera"].split("_")[1]
    after = http.post(f"/ui/tokens/{own}/revoke", data={"csrf_token": csrf(page)},
                      follow_redirects=False)
    ended = http.get(after.headers["location"], follow_redirects=False)
    assert ended.status_code == 303 and ended.headers["location"].endswith("&ended=1")
    assert "Your session has ended" in http.get(ended.headers["location"]).text


def test_a_viewer_neither_sees_nor_does_admin_things(site: Site) -> None:
    http = site.http
    log_in(site, "vera")
    page = http.get("/ui/tokens?all=1").text
    assert "Show every user" not in page and 'name="user"' not in page
    assert "Your tokens" in page and len(re.findall(r"<tr data-token=", page)) == 1
    refused = http.post("/ui/tokens", data={"user": "ada", "csrf_token": csrf(page)})
    assert refused.status_code == 403 and "only an admin may create tokens" in refused.text
    ada_token = site.tokens["ada"].split("_")[1]
    other = http.post(f"/ui/tokens/{ada_token}/revoke", data={"csrf_token": csrf(page)})
    assert other.status_code == 403
    assert site.auth.list_tokens("ada")[0].revoked_time is None

    http.cookies.clear()
    log_in(site, "ada")
    admin = http.get("/ui/tokens?all=1").text
    assert "Every user&#39;s tokens" in admin or "Every user's tokens" in admin
    assert len(re.findall(r"<tr data-token=", admin)) == 2 and 'name="user"' in admin
    made = http.post("/ui/tokens", data={"user": "vera", "csrf_token": csrf(admin)})
    assert made.status_code == 201 and "created for vera" in made.text


def test_without_auth_there_is_nothing_to_log_in_to(tmp_path: Path) -> None:
    app = create_app_from_uris(f"sqlite:///{tmp_path / 'open.db'}", str(tmp_path / "a"))
    with TestClient(app) as http:
        assert "runs without <code>--auth</code>" in http.get("/ui/login").text
        assert "takes no tokens" in http.get("/ui/tokens").text
        assert http.get("/ui/experiments").status_code == 200


def test_session_cookies_end_and_cannot_be_altered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(login_session.SESSION_SECRET.env, "s" * 40)
    login_session.forget_secret()
    value, seconds = login_session.issue("0123456789ab", None, now=1_000)
    assert seconds == login_session.SESSION_SECONDS
    session = login_session.read(value, now=1_001)
    assert session is not None and session.token_id == "0123456789ab"
    assert login_session.read(value, now=1_000 + seconds) is None  # expired
    assert login_session.read(value.replace("0123456789ab", "ba9876543210"), now=1_001) is None
    # A token expiring sooner ends the session with it.
    _value, short = login_session.issue("0123456789ab", 1_060_000, now=1_000)
    assert short == 60
    monkeypatch.setenv(login_session.SESSION_SECRET.env, "t" * 40)  # another secret
    login_session.forget_secret()
    assert login_session.read(value, now=1_001) is None
    monkeypatch.setenv(login_session.SESSION_SECRET.env, "short")
    login_session.forget_secret()
    with pytest.raises(Exception, match="at least 32 characters"):
        login_session.secret()
    login_session.forget_secret()
