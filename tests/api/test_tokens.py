"""Personal API tokens: created with the secret shown once, listed without it, revoked,
expired; each user sees and revokes only their own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from dllab.db.models import ApiToken
from dllab.services import auth as auth_service

ME = "/api/v1/users/me"
TOKENS = "/api/v1/tokens"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def create(client):
    def make(headers, name="laptop", **fields):
        answer = client.post(TOKENS, headers=headers, json={"name": name, **fields})
        assert answer.status_code == 201, answer.text
        return answer.json()

    return make


def test_created_token_shows_its_secret_once_and_works(client, admin, create):
    token = create(admin, "ci")
    assert token["token"].startswith("dlu_")
    assert token["prefix"] == token["token"][:len(token["prefix"])]
    assert len(token["prefix"]) < len(token["token"]) - 20
    assert token["name"] == "ci"
    assert token["expires_at"] is None
    me = client.get(ME, headers=bearer(token["token"]))
    assert me.status_code == 200
    assert me.json()["username"] == "admin"


def test_token_name_is_stripped(admin, create):
    assert create(admin, "  ci runner  ")["name"] == "ci runner"


def test_token_with_expiry_expires_that_many_days_later(admin, create):
    token = create(admin, expires_in_days=30)
    expires = datetime.fromisoformat(token["expires_at"])
    now = datetime.now(UTC)
    assert now + timedelta(days=29) < expires <= now + timedelta(days=30, minutes=5)


def test_list_shows_personal_tokens_without_secrets(client, admin, create):
    first, second = create(admin, "one"), create(admin, "two")
    answer = client.get(TOKENS, headers=admin)
    assert answer.status_code == 200
    body = answer.json()
    assert body["count"] == 2  # the admin's login token is not a personal token
    assert [t["id"] for t in body["data"]] == [first["id"], second["id"]]
    assert all("token" not in t for t in body["data"])
    assert first["token"] not in answer.text and second["token"] not in answer.text
    assert {t["prefix"] for t in body["data"]} == {first["prefix"], second["prefix"]}


def test_list_pages(client, admin, create):
    ids = [create(admin, f"t{i}")["id"] for i in range(3)]
    page = client.get(TOKENS, headers=admin, params={"limit": 2}).json()
    assert (page["count"], [t["id"] for t in page["data"]]) == (3, ids[:2])
    rest = client.get(TOKENS, headers=admin, params={"offset": 2, "limit": 2}).json()
    assert (rest["count"], [t["id"] for t in rest["data"]]) == (3, ids[2:])


def test_using_a_token_records_last_use(client, admin, create):
    token = create(admin)
    assert client.get(ME, headers=bearer(token["token"])).status_code == 200
    listed = client.get(TOKENS, headers=admin).json()["data"]
    assert listed[0]["last_used_at"] is not None


def test_revoked_token_stops_working(client, admin, create):
    token = create(admin)
    assert client.delete(f"{TOKENS}/{token['id']}", headers=admin).status_code == 204
    answer = client.get(ME, headers=bearer(token["token"]))
    assert answer.status_code == 401
    assert "revoked" in answer.json()["detail"]
    assert client.get(TOKENS, headers=admin).json()["count"] == 0
    again = client.delete(f"{TOKENS}/{token['id']}", headers=admin)
    assert again.status_code == 404
    assert again.json()["reason"] == "token_not_found"


def test_token_revoked_with_itself_is_gone(client, admin, create):
    token = create(admin)
    headers = bearer(token["token"])
    assert client.delete(f"{TOKENS}/{token['id']}", headers=headers).status_code == 204
    assert client.get(ME, headers=headers).status_code == 401


def test_expired_token_is_401_expired(client, admin, create, db):
    token = create(admin, expires_in_days=1)
    with db() as session:
        session.execute(update(ApiToken).where(ApiToken.id == token["id"])
                        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        session.commit()
    answer = client.get(ME, headers=bearer(token["token"]))
    assert answer.status_code == 401
    assert "expired" in answer.json()["detail"]
    assert answer.json()["reason"] == "token_expired"


def test_token_expires_when_its_day_comes(client, admin, create, monkeypatch):
    token = create(admin, expires_in_days=7)
    headers = bearer(token["token"])
    now = datetime.now(UTC)
    clock = [now + timedelta(days=6)]
    monkeypatch.setattr(auth_service, "utcnow", lambda: clock[0])
    assert client.get(ME, headers=headers).status_code == 200
    clock[0] = now + timedelta(days=7, minutes=1)
    answer = client.get(ME, headers=headers)
    assert answer.status_code == 401
    assert "expired" in answer.json()["detail"]


def test_token_without_expiry_never_expires(client, admin, create, monkeypatch):
    token = create(admin)
    far = datetime.now(UTC) + timedelta(days=3650)
    monkeypatch.setattr(auth_service, "utcnow", lambda: far)
    assert client.get(ME, headers=bearer(token["token"])).status_code == 200


def test_users_see_and_revoke_only_their_own_tokens(client, admin, make_user, create):
    alice, bob = make_user("alice"), make_user("bob")
    alices = create(alice, "alices")
    bobs_list = client.get(TOKENS, headers=bob).json()
    assert bobs_list == {"data": [], "count": 0}
    stolen = client.delete(f"{TOKENS}/{alices['id']}", headers=bob)
    assert stolen.status_code == 404
    assert stolen.json()["detail"] == f"no token {alices['id']}"  # not "forbidden"
    # Not even an admin revokes someone else's token.
    assert client.delete(f"{TOKENS}/{alices['id']}", headers=admin).status_code == 404
    assert client.get(ME, headers=bearer(alices["token"])).status_code == 200
    assert client.get(TOKENS, headers=alice).json()["count"] == 1


def test_login_tokens_cannot_be_revoked_as_personal_tokens(client, admin, db):
    with db() as session:
        login_ids = list(session.scalars(select(ApiToken.id)))
    assert login_ids
    for token_id in login_ids:
        assert client.delete(f"{TOKENS}/{token_id}", headers=admin).status_code == 404
    assert client.get(ME, headers=admin).status_code == 200
