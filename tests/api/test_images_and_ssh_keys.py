"""The image catalogue (admins offer images, everyone lists them) and users' SSH public
keys (checked, fingerprinted as ssh-keygen does, kept per user)."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest

IMAGES = "/api/v1/images"
KEYS = "/api/v1/users/me/ssh-keys"
TF = {"name": "dllab/runtime", "tag": "tf2.21-cpu", "framework": "tensorflow",
      "framework_version": "2.21.0", "description": "TensorFlow 2.21, CPU build"}


def test_admins_offer_images_and_everyone_lists_them(client, admin, make_user):
    alice = make_user("alice")
    created = client.post(IMAGES, headers=admin, json=TF)
    assert created.status_code == 201, created.text
    image = created.json()
    assert (image["reference"], image["gpu"]) == ("dllab/runtime:tf2.21-cpu", False)
    newer = client.post(IMAGES, headers=admin, json={
        **TF, "tag": "tf2.22-gpu", "framework_version": "2.22.0", "gpu": True}).json()
    listed = client.get(IMAGES, headers=alice).json()
    assert listed["count"] == 2
    assert [i["tag"] for i in listed["data"]] == ["tf2.22-gpu", "tf2.21-cpu"]  # newest first
    refused = client.post(IMAGES, headers=alice, json={**TF, "tag": "mine"})
    assert (refused.status_code, refused.json()["reason"]) == (403, "admin_only")
    twice = client.post(IMAGES, headers=admin, json=TF)
    assert (twice.status_code, twice.json()["reason"]) == (409, "image_exists")
    assert client.delete(f"{IMAGES}/{newer['id']}", headers=alice).status_code == 403
    assert client.delete(f"{IMAGES}/{newer['id']}", headers=admin).status_code == 204
    gone = client.delete(f"{IMAGES}/{newer['id']}", headers=admin)
    assert (gone.status_code, gone.json()["reason"]) == (404, "image_not_found")
    assert client.get(IMAGES, headers=alice).json()["count"] == 1


@pytest.mark.parametrize("field, value", [
    ("name", "Upper/Case"), ("name", "bad//path"), ("name", "-lead"), ("name", ""),
    ("tag", "has space"), ("tag", ".dot-first"), ("tag", "t" * 129),
    ("framework", ""), ("framework_version", "2.21 beta"), ("gpu", "yes"),
    ("description", "d" * 2001),
])
def test_bad_images_are_refused_and_nothing_is_added(client, admin, field, value):
    answer = client.post(IMAGES, headers=admin, json={**TF, field: value})
    assert answer.status_code == 422
    assert field in answer.json()["detail"]
    assert client.get(IMAGES, headers=admin).json()["count"] == 0


@pytest.fixture
def public_key(tmp_path: Path) -> tuple[str, str]:
    """A fresh ed25519 key by ssh-keygen, and its fingerprint as ssh-keygen shows it."""
    keygen = shutil.which("ssh-keygen")
    assert keygen, "ssh-keygen (openssh-client) is needed"
    key = tmp_path / "id_ed25519"
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", "alice@laptop", "-f",
                    str(key)], check=True)
    listed = subprocess.run([keygen, "-l", "-f", str(key) + ".pub"], check=True,
                            capture_output=True, text=True).stdout
    return (key.with_suffix(".pub")).read_text().strip(), listed.split()[1]


def test_users_keep_their_own_ssh_keys(client, make_user, public_key):
    line, fingerprint = public_key
    alice, bob = make_user("alice"), make_user("bob")
    assert client.get(KEYS, headers=alice).json() == {"keys": []}
    answer = client.put(KEYS, headers=alice, json={"keys": [line + "\n", line]})
    assert answer.status_code == 200, answer.text
    [key] = answer.json()["keys"]  # the same key twice is one key
    assert key == {"key": line, "type": "ssh-ed25519", "comment": "alice@laptop",
                   "fingerprint": fingerprint}
    assert client.get(KEYS, headers=alice).json()["keys"] == [key]
    assert client.get(KEYS, headers=bob).json() == {"keys": []}
    assert client.put(KEYS, headers=alice, json={"keys": []}).json() == {"keys": []}


def _blob(kind: str) -> str:
    name = kind.encode()
    return base64.b64encode(len(name).to_bytes(4, "big") + name + b"\x00" * 36).decode()


@pytest.mark.parametrize("line, says", [
    ("ssh-ed25519", "TYPE BASE64"),
    ("ssh-dss " + _blob("ssh-dss"), "unknown key type"),
    ("ssh-ed25519 not*base64", "not base64"),
    ("ssh-ed25519 " + _blob("ssh-rsa"), "not a ssh-ed25519 key"),
    ('from="10.0.0.1" ssh-ed25519 ' + _blob("ssh-ed25519"), "unknown key type"),
    ("ssh-ed25519 " + _blob("ssh-ed25519") + " one\nssh-ed25519 two", "one key per line"),
])
def test_bad_ssh_keys_are_refused_and_the_old_ones_kept(client, make_user, public_key, line,
                                                        says):
    alice = make_user("alice")
    client.put(KEYS, headers=alice, json={"keys": [public_key[0]]})
    answer = client.put(KEYS, headers=alice, json={"keys": [line]})
    assert answer.status_code == 422
    assert says in answer.json()["detail"]
    assert [k["key"] for k in client.get(KEYS, headers=alice).json()["keys"]] == \
        [public_key[0]]


def test_too_many_ssh_keys_are_refused(client, make_user, public_key):
    answer = client.put(KEYS, headers=make_user("alice"), json={"keys": [public_key[0]] * 33})
    assert answer.status_code == 422 and "keys" in answer.json()["detail"]
