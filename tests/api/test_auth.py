"""Who may call the API: the first admin, password logins, console sessions with CSRF,
logout, expired and foreign credentials."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from dllab import security
from dllab.config import Settings
from dllab.db.models import ApiToken, TokenKind, User, UserRole
from dllab.main import create_app

ME = "/api/v1/users/me"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def cookies_set(answer) -> dict[str, str]:
    """Set-Cookie headers of an answer, by cookie name."""
    return {line.split("=", 1)[0]: line for line in answer.headers.get_list("set-cookie")}


def test_health_needs_no_login(client):
    answer = client.get("/api/v1/health")
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"
    assert answer.json()["database"] in {"sqlite", "postgresql"}


def test_admin_exists_on_first_start(client, admin):
    answer = client.get(ME, headers=admin)
    assert answer.status_code == 200
    assert answer.json()["username"] == "admin"
    assert answer.json()["role"] == "admin"


def test_first_start_without_password_generates_and_saves_one(tmp_path, database_url, capsys):
    settings = Settings(home=tmp_path / "fresh", database_url=database_url,
                        admin_password=None)
    app = create_app(settings)
    try:
        printed = capsys.readouterr().out
        saved = settings.home / "admin-password"
        password = saved.read_text().strip()
        assert password and password in printed
        assert saved.stat().st_mode & 0o777 == 0o600
        with TestClient(app) as client:
            answer = client.post("/api/v1/auth/token",
                                 data={"username": "admin", "password": password})
            assert answer.status_code == 200, answer.text
    finally:
        app.state.context.dispatcher.close()
        app.state.context.engine.dispose()

    again = create_app(settings)  # a restart: the admin exists, nothing is generated
    try:
        assert "First admin created" not in capsys.readouterr().out
        assert saved.read_text().strip() == password
        with again.state.context.sessions() as session:
            admins = session.scalars(select(User).where(User.role == UserRole.admin)).all()
        assert [u.username for u in admins] == ["admin"]
    finally:
        again.state.context.dispatcher.close()
        again.state.context.engine.dispose()


def test_token_login_answers_a_bearer_token(client, settings):
    answer = client.post("/api/v1/auth/token",
                         data={"username": "admin", "password": settings.admin_password})
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"access_token", "token_type", "expires_at"}
    assert body["token_type"] == "bearer"
    assert body["access_token"].startswith(security.USER_TOKEN_PREFIX)
    expires = datetime.fromisoformat(body["expires_at"])
    now = datetime.now(UTC)
    assert now < expires <= now + timedelta(hours=settings.access_token_hours, minutes=5)
    assert client.get(ME, headers=bearer(body["access_token"])).status_code == 200


@pytest.mark.parametrize("username, password", [("admin", "not-the-password"),
                                                ("nobody", "whatever-it-is"),
                                                ("Admin", "admin-password-for-tests")])
def test_wrong_credentials_are_401_with_a_message(client, username, password):
    answer = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert answer.status_code == 401
    assert answer.json()["detail"] == "wrong username or password"
    assert answer.json()["reason"] == "bad_credentials"
    console = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert console.status_code == 401
    assert console.json()["detail"] == "wrong username or password"


def test_unknown_and_known_usernames_cost_the_same_hashing(client, monkeypatch):
    """The login of an unknown user must do the same scrypt work as a wrong password for
    a real one, or response times tell which usernames exist."""
    calls: list[int] = []
    real_scrypt = security.hashlib.scrypt

    def counting_scrypt(*args, **kwargs):
        calls.append(1)
        return real_scrypt(*args, **kwargs)

    monkeypatch.setattr(security.hashlib, "scrypt", counting_scrypt)

    def scrypt_calls(username: str) -> int:
        calls.clear()
        answer = client.post("/api/v1/auth/token",
                             data={"username": username, "password": "wrong-password"})
        assert answer.status_code == 401
        return len(calls)

    scrypt_calls("nobody")  # a one-off cost per process (a dummy hash) tells nothing
    assert scrypt_calls("somebody") == scrypt_calls("admin")


def test_requests_without_credentials_are_401(client):
    answer = client.get(ME)
    assert answer.status_code == 401
    assert "not logged in" in answer.json()["detail"]


@pytest.mark.parametrize("header", ["Basic YWRtaW46YWRtaW4=", "Bearer", "Bearer   ", "dlu_x"])
def test_malformed_authorization_header_is_401(client, header):
    answer = client.get(ME, headers={"Authorization": header})
    assert answer.status_code == 401
    assert answer.json()["reason"] == "bad_authorization_header"
    assert "Bearer <token>" in answer.json()["detail"]


def test_unknown_token_is_401(client):
    answer = client.get(ME, headers=bearer(security.new_token(security.USER_TOKEN_PREFIX)))
    assert answer.status_code == 401
    assert answer.json()["reason"] == "bad_token"


def test_expired_login_token_is_401_expired(client, admin, db):
    with db() as session:
        session.execute(update(ApiToken).where(ApiToken.kind == TokenKind.login)
                        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        session.commit()
    answer = client.get(ME, headers=admin)
    assert answer.status_code == 401
    assert "expired" in answer.json()["detail"]
    assert answer.json()["reason"] == "token_expired"


def test_host_token_used_as_a_user_token_is_401(client, agent_host):
    host = agent_host("gpu-1", gpus=1)
    answer = client.get(ME, headers=host)
    assert answer.status_code == 401
    assert "host token" in answer.json()["detail"]
    assert answer.json()["reason"] == "host_token"


def test_user_token_used_on_the_agent_api_is_401(client, admin):
    answer = client.post("/api/v1/agent/heartbeat", headers=admin, json={"gpus": [], "units": []})
    assert answer.status_code == 401
    assert "host token" in answer.json()["detail"]
    assert answer.json()["reason"] == "not_a_host_token"


# Console sessions: an HttpOnly cookie, and a CSRF header on every unsafe request.


@pytest.fixture
def console(client, settings):
    answer = client.post("/api/v1/auth/login",
                         json={"username": "admin", "password": settings.admin_password})
    assert answer.status_code == 200, answer.text
    return answer


def test_console_login_sets_session_and_csrf_cookies(console):
    body = console.json()
    assert body["user"]["username"] == "admin"
    assert body["csrf_token"]
    cookies = cookies_set(console)
    session, csrf = cookies["dllab_session"].lower(), cookies["dllab_csrf"].lower()
    assert "httponly" in session and "samesite=strict" in session and "path=/" in session
    assert "httponly" not in csrf  # the console's script reads it
    assert f"dllab_csrf={body['csrf_token']}".lower() in csrf
    assert "secure" not in session  # secure_cookies is off by default (plain HTTP)


def test_console_login_marks_cookies_secure_when_configured(client, settings):
    settings.secure_cookies = True  # the app reads the same Settings object
    answer = client.post("/api/v1/auth/login",
                         json={"username": "admin", "password": settings.admin_password})
    assert answer.status_code == 200
    cookies = cookies_set(answer)
    assert set(cookies) == {"dllab_session", "dllab_csrf"}
    assert all("secure" in line.lower() for line in cookies.values())


def test_session_cookie_authenticates_reads(client, console):
    answer = client.get(ME)  # the TestClient sends the cookies it was given
    assert answer.status_code == 200
    assert answer.json()["username"] == "admin"


def test_unsafe_request_with_session_cookie_needs_the_csrf_header(client, console):
    csrf = console.json()["csrf_token"]
    missing = client.post("/api/v1/tokens", json={"name": "ci"})
    assert missing.status_code == 403
    assert missing.json()["reason"] == "csrf"
    assert "X-CSRF-Token" in missing.json()["detail"]
    wrong = client.post("/api/v1/tokens", json={"name": "ci"},
                        headers={"X-CSRF-Token": csrf + "x"})
    assert wrong.status_code == 403
    right = client.post("/api/v1/tokens", json={"name": "ci"}, headers={"X-CSRF-Token": csrf})
    assert right.status_code == 201, right.text


def test_logout_ends_the_session(client, console):
    session_cookie = client.cookies["dllab_session"]
    csrf = console.json()["csrf_token"]
    assert client.post("/api/v1/auth/logout").status_code == 403  # CSRF applies here too
    answer = client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 204
    assert "dllab_session" not in client.cookies  # the answer deleted both cookies
    assert "dllab_csrf" not in client.cookies
    client.cookies.set("dllab_session", session_cookie)  # a copy kept by an attacker
    after = client.get(ME)
    assert after.status_code == 401
    assert after.json()["reason"] == "bad_token"


def test_logout_with_a_bearer_login_token_revokes_it(client, admin):
    assert client.post("/api/v1/auth/logout", headers=admin).status_code == 204
    assert client.get(ME, headers=admin).status_code == 401


def test_session_cookie_holding_another_kind_of_token_is_refused(client, admin):
    created = client.post("/api/v1/tokens", headers=admin, json={"name": "cli"})
    client.cookies.set("dllab_session", created.json()["token"])
    answer = client.get(ME)
    assert answer.status_code == 401
    assert "session" in answer.json()["detail"]


def test_expired_session_cookie_is_401(client, console, db):
    with db() as session:
        session.execute(update(ApiToken).where(ApiToken.kind == TokenKind.session)
                        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        session.commit()
    answer = client.get(ME)
    assert answer.status_code == 401
    assert "expired" in answer.json()["detail"]


def test_token_form_login_refuses_json(client, settings):
    answer = client.post("/api/v1/auth/token",
                         json={"username": "admin", "password": settings.admin_password})
    assert answer.status_code == 422
    assert "username" in answer.json()["detail"]
