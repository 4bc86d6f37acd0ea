"""Users' secrets: named credentials, write-only through the API, encrypted at rest with
the key in DLLAB_HOME/secret-key, strictly per user (admins included)."""

from __future__ import annotations

import json
import os
import stat

import pytest
from sqlalchemy import select

from dllab.db.models import Secret, User
from dllab.errors import BadRequest, DLLabError
from dllab.security import fernet_key
from dllab.services.secrets import secret_data

SECRETS = "/api/v1/secrets"
AK, SK = "AKIA-not-a-real-access-key", "s3cr3t/value+with=signs"


def _session(client):
    return client.app.state.context.sessions()


def _user(session, username: str) -> User:
    return session.scalar(select(User).where(User.username == username))


def test_create_list_replace_delete_and_values_never_come_back(client, make_user, settings):
    alice = make_user("alice")
    created = client.post(SECRETS, headers=alice,
                          json={"name": "s3", "data": {"SECRET_KEY": SK, "ACCESS_KEY": AK}})
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["name"], body["keys"]) == ("s3", ["ACCESS_KEY", "SECRET_KEY"])
    assert body["created_at"] == body["updated_at"]
    assert AK not in created.text and SK not in created.text

    listed = client.get(SECRETS, headers=alice)
    assert listed.json()["count"] == 1
    assert [s["name"] for s in listed.json()["data"]] == ["s3"]
    assert AK not in listed.text and SK not in listed.text

    replaced = client.put(f"{SECRETS}/s3", headers=alice, json={"data": {"TOKEN": "t-123"}})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["keys"] == ["TOKEN"] and "t-123" not in replaced.text
    assert replaced.json()["updated_at"] >= replaced.json()["created_at"]
    assert client.get(SECRETS, headers=alice).json()["data"][0]["keys"] == ["TOKEN"]
    with _session(client) as session:
        alice_user = _user(session, "alice")
        assert secret_data(session, settings, alice_user, "s3") == {"TOKEN": "t-123"}

    client.post(SECRETS, headers=alice, json={"name": "a-first", "data": {"X": ""}})
    page = client.get(SECRETS, headers=alice, params={"limit": 1}).json()
    assert (page["count"], [s["name"] for s in page["data"]]) == (2, ["a-first"])

    assert client.delete(f"{SECRETS}/s3", headers=alice).status_code == 204
    gone = client.delete(f"{SECRETS}/s3", headers=alice)
    assert (gone.status_code, gone.json()["reason"]) == (404, "secret_not_found")
    missing = client.put(f"{SECRETS}/s3", headers=alice, json={"data": {"A": "b"}})
    assert (missing.status_code, missing.json()["reason"]) == (404, "secret_not_found")
    assert [s["name"] for s in client.get(SECRETS, headers=alice).json()["data"]] == ["a-first"]


def test_duplicate_names_conflict(client, make_user, settings):
    alice = make_user("alice")
    first = client.post(SECRETS, headers=alice, json={"name": "s3", "data": {"A": "1"}})
    assert first.status_code == 201
    again = client.post(SECRETS, headers=alice, json={"name": "s3", "data": {"A": "2"}})
    assert (again.status_code, again.json()["reason"]) == (409, "secret_exists")
    with _session(client) as session:  # the first data is kept
        assert secret_data(session, settings, _user(session, "alice"), "s3") == {"A": "1"}


def test_the_database_holds_only_ciphertext_and_the_key_file_is_private(client, make_user,
                                                                          settings):
    alice = make_user("alice")
    client.post(SECRETS, headers=alice, json={"name": "s3", "data": {"ACCESS_KEY": AK,
                                                                      "SECRET_KEY": SK}})
    with _session(client) as session:
        row = session.scalar(select(Secret).where(Secret.name == "s3"))
        assert row is not None and row.keys == ["ACCESS_KEY", "SECRET_KEY"]
        assert AK not in row.ciphertext and SK not in row.ciphertext
        assert row.ciphertext.startswith("gAAAAA")  # a Fernet token
    key_file = settings.home / "secret-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert not [p for p in key_file.parent.iterdir() if p.name.startswith(".secret-key")]


def test_secrets_are_per_user_admins_included(client, admin, make_user, settings):
    alice, bob = make_user("alice"), make_user("bob")
    assert client.post(SECRETS, headers=alice, json={"name": "s3",
                                                     "data": {"KEY": AK}}).status_code == 201
    for headers in (bob, admin):
        assert client.get(SECRETS, headers=headers).json() == {"data": [], "count": 0}
        for answer in (client.put(f"{SECRETS}/s3", headers=headers, json={"data": {"K": "v"}}),
                       client.delete(f"{SECRETS}/s3", headers=headers)):
            assert (answer.status_code, answer.json()["reason"]) == (404, "secret_not_found")
    # bob may have a secret of the same name, his own
    mine = client.post(SECRETS, headers=bob, json={"name": "s3", "data": {"KEY": "bobs"}})
    assert mine.status_code == 201, mine.text
    with _session(client) as session:
        assert secret_data(session, settings, _user(session, "alice"), "s3") == {"KEY": AK}
        assert secret_data(session, settings, _user(session, "bob"), "s3") == {"KEY": "bobs"}
        with pytest.raises(BadRequest) as refused:
            secret_data(session, settings, _user(session, "admin"), "s3")
    assert refused.value.reason == "unknown_secret"
    assert "no secret named s3" in refused.value.message
    assert "POST /api/v1/secrets" in refused.value.message
    assert [s["keys"] for s in client.get(SECRETS, headers=alice).json()["data"]] == [["KEY"]]


def test_a_ciphertext_moved_to_another_row_does_not_open(client, make_user, settings):
    alice, bob = make_user("alice"), make_user("bob")
    client.post(SECRETS, headers=alice, json={"name": "s3", "data": {"KEY": AK}})
    client.post(SECRETS, headers=bob, json={"name": "s3", "data": {"KEY": "bobs"}})
    with _session(client) as session:
        rows = {s.owner_id: s for s in session.scalars(select(Secret))}
        alices, bobs = _user(session, "alice"), _user(session, "bob")
        rows[bobs.id].ciphertext = rows[alices.id].ciphertext
        session.commit()
        with pytest.raises(DLLabError) as refused:
            secret_data(session, settings, bobs, "s3")
    assert refused.value.reason == "secret_tampered"


def test_a_lost_key_is_said_so(client, make_user, settings):
    alice = make_user("alice")
    client.post(SECRETS, headers=alice, json={"name": "s3", "data": {"KEY": AK}})
    key_file = settings.home / "secret-key"
    key_file.unlink()
    with _session(client) as session, pytest.raises(DLLabError) as refused:
        secret_data(session, settings, _user(session, "alice"), "s3")
    assert (refused.value.status_code, refused.value.reason) == (500, "secret_key_mismatch")
    assert "secret-key" in refused.value.message and AK not in refused.value.message


@pytest.mark.parametrize("body", [
    {"name": "Upper", "data": {"A": "b"}},
    {"name": "under_score", "data": {"A": "b"}},
    {"name": "-lead", "data": {"A": "b"}},
    {"name": "", "data": {"A": "b"}},
    {"name": "n" * 64, "data": {"A": "b"}},
    {"name": "s3", "data": {}},
    {"name": "s3"},
    {"name": "s3", "data": {"1DIGIT": "b"}},
    {"name": "s3", "data": {"HAS-DASH": "b"}},
    {"name": "s3", "data": {"HAS SPACE": "b"}},
    {"name": "s3", "data": {"": "b"}},
    {"name": "s3", "data": {"K" * 129: "b"}},
    {"name": "s3", "data": {"A": "v" * 8193}},
    {"name": "s3", "data": {"A": 1}},
    {"name": "s3", "data": {"A": "nul\x00"}},
    {"name": "s3", "data": {f"K{i}": "v" for i in range(33)}},
    {"name": "s3", "data": {"A": "b"}, "extra": True},
    {"name": "s3", "data": ["A", "b"]},
])
def test_bad_secrets_are_refused(client, make_user, body):
    alice = make_user("alice")
    answer = client.post(SECRETS, headers=alice, json=body)
    assert answer.status_code == 422, answer.text
    assert client.get(SECRETS, headers=alice).json()["count"] == 0


def test_the_limits_themselves_are_accepted_and_bad_paths_refused(client, make_user, settings):
    alice = make_user("alice")
    data = {f"K{i}_" + "x" * 120: "v" * 8192 for i in range(32)}
    answer = client.post(SECRETS, headers=alice, json={"name": "n" * 63, "data": data})
    assert answer.status_code == 201, answer.text[:300]
    with _session(client) as session:
        assert secret_data(session, settings, _user(session, "alice"), "n" * 63) == data
    assert client.put(f"{SECRETS}/{'n' * 63}", headers=alice,
                      json={"data": {}}).status_code == 422
    assert client.put(f"{SECRETS}/Bad_Name", headers=alice,
                      json={"data": {"A": "b"}}).status_code == 422
    assert client.delete(f"{SECRETS}/Bad_Name", headers=alice).status_code == 422
    assert client.get(SECRETS).status_code == 401


def test_fernet_key_is_made_once_private_and_kept(tmp_path):
    path = tmp_path / "home" / "secret-key"
    key = fernet_key(path)
    assert len(key) == 44 and fernet_key(path) == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(path.parent) == ["secret-key"]


def test_cli_sets_lists_and_removes_secrets(dllab, live_server, client, make_user, tmp_path,
                                            settings):
    make_user("carol")
    dllab("login", "--server", live_server, "--username", "carol",
          "--password", "carol-password")
    assert "(none)" in dllab("secrets")
    (tmp_path / "sk.txt").write_text(SK + "\n")
    out = dllab("secrets", "set", "s3", f"ACCESS_KEY={AK}", f"SECRET_KEY=@{tmp_path / 'sk.txt'}")
    assert "Secret s3 created (keys ACCESS_KEY, SECRET_KEY)." in out
    listed = dllab("secrets")
    assert "s3" in listed and "ACCESS_KEY, SECRET_KEY" in listed
    assert AK not in listed and SK not in listed
    with _session(client) as session:
        carol_user = _user(session, "carol")
        assert secret_data(session, settings, carol_user, "s3") == {"ACCESS_KEY": AK,
                                                                    "SECRET_KEY": SK}
    assert "Secret s3 replaced (keys TOKEN)." in dllab("secrets", "set", "s3", "TOKEN=a=b")
    with _session(client) as session:
        carol_user = _user(session, "carol")
        assert secret_data(session, settings, carol_user, "s3") == {"TOKEN": "a=b"}

    assert "expected KEY=VALUE" in dllab("secrets", "set", "s3", "NOVALUE", ok=False)
    assert "cannot read" in dllab("secrets", "set", "s3",
                                  f"A=@{tmp_path / 'missing'}", ok=False)
    assert "given twice" in dllab("secrets", "set", "s3", "A=1", "A=2", ok=False)
    assert "invalid request" in dllab("secrets", "set", "s3", "1A=1", ok=False)
    assert "KEY=@FILE" in dllab("secrets", "set", "--help")

    assert "Secret s3 removed." in dllab("secrets", "remove", "s3")
    assert "(none)" in dllab("secrets")
    assert "no secret named s3" in dllab("secrets", "remove", "s3", ok=False)
    assert json.loads((tmp_path / "cli" / "config.json").read_text())["server"] == live_server
