"""Users: only admins create and list them; names are unique; roles decide what one may do."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

USERS = "/api/v1/users"


def test_admin_creates_a_user_who_can_log_in(client, admin, login_as):
    answer = client.post(USERS, headers=admin,
                         json={"username": "alice", "password": "alice-password"})
    assert answer.status_code == 201
    body = answer.json()
    assert set(body) == {"id", "username", "role", "gpu_quota", "created_at"}  # no password
    assert (body["username"], body["role"], body["gpu_quota"]) == ("alice", "user", None)
    me = client.get(f"{USERS}/me", headers=login_as("alice", "alice-password"))
    assert me.status_code == 200
    assert me.json() == body


def test_duplicate_username_is_409(client, admin, make_user):
    make_user("alice")
    answer = client.post(USERS, headers=admin,
                         json={"username": "alice", "password": "another-password"})
    assert answer.status_code == 409
    assert answer.json()["reason"] == "user_exists"
    assert "alice" in answer.json()["detail"]


def test_admin_username_is_taken_too(client, admin):
    answer = client.post(USERS, headers=admin, json={"username": "admin", "password": "x" * 8})
    assert answer.status_code == 409


def test_plain_user_cannot_create_or_list_users(client, make_user):
    alice = make_user("alice")
    created = client.post(USERS, headers=alice, json={"username": "eve", "password": "x" * 8})
    assert created.status_code == 403
    assert created.json()["reason"] == "admin_only"
    assert "admin" in created.json()["detail"]
    assert client.get(USERS, headers=alice).status_code == 403


def test_creating_users_needs_a_login(client):
    answer = client.post(USERS, json={"username": "eve", "password": "x" * 8})
    assert answer.status_code == 401


def test_admin_lists_every_user(client, admin, make_user):
    make_user("alice")
    make_user("bob")
    answer = client.get(USERS, headers=admin)
    assert answer.status_code == 200
    body = answer.json()
    assert body["count"] == 3
    assert [u["username"] for u in body["data"]] == ["admin", "alice", "bob"]
    page = client.get(USERS, headers=admin, params={"offset": 1, "limit": 1}).json()
    assert (page["count"], [u["username"] for u in page["data"]]) == (3, ["alice"])


def test_admin_can_create_another_admin(client, make_user):
    root = make_user("root", role="admin")
    assert client.get(f"{USERS}/me", headers=root).json()["role"] == "admin"
    answer = client.post(USERS, headers=root, json={"username": "carol", "password": "x" * 8})
    assert answer.status_code == 201


def test_unknown_role_is_422(client, admin):
    answer = client.post(USERS, headers=admin,
                         json={"username": "eve", "password": "x" * 8, "role": "root"})
    assert answer.status_code == 422
    assert "role" in answer.json()["detail"]


def test_the_same_user_created_twice_at_once_is_one_201_and_one_409(live_server, admin):
    def create(_: int) -> int:
        return httpx.post(f"{live_server}/api/v1/users", headers=admin, timeout=30, json={
            "username": "twin", "password": "twin-password"}).status_code

    with ThreadPoolExecutor(6) as pool:
        assert sorted(pool.map(create, range(6))) == [201] + [409] * 5
