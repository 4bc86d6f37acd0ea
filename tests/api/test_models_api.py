"""The model registry's API: models per owner, versions registered from an uploaded
.tar.gz, a folder under the allowed roots or a job's output (signatures read from the real
SavedModels in tests/unit/data/saved_models), what is refused and leaves nothing behind,
labels, other users, and what a service in use keeps from being deleted."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest
from sqlalchemy import select

from dllab.db.models import ModelVersion

MODELS = "/api/v1/models"
FIXTURES = Path(__file__).parents[1] / "unit" / "data" / "saved_models"
IMAGE = {"name": "dllab/runtime", "tag": "tf-cpu", "framework": "tensorflow",
         "framework_version": "2.21.0"}
JOB = {"name": "train", "image": "dllab/runtime:tf-cpu", "command": ["python", "train.py"],
       "strategy": "multi_worker_mirrored", "replicas": {"chief": {"count": 1}}}


@pytest.fixture
def settings(settings):
    settings.serving_seconds = 0  # no serving loop: the tests run its rounds themselves
    return settings


@pytest.fixture
def catalogue(client, admin):
    assert client.post("/api/v1/images", headers=admin, json=IMAGE).status_code == 201


def expected(name: str) -> dict:
    return json.loads((FIXTURES / name / "expected.json").read_text())


def saved_model_files(name: str) -> dict[str, bytes]:
    """A SavedModel folder's files: the fixture's graph, and a variables folder (not read)."""
    return {"saved_model.pb": (FIXTURES / name / "saved_model.pb").read_bytes(),
            "variables/variables.index": b"index",
            "variables/variables.data-00000-of-00001": b"weights"}


def archive(files: dict[str, bytes], folder: str = "", links: dict[str, str] | None = None,
            raw: dict[str, tarfile.TarInfo] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{folder}/{name}" if folder else name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buffer.getvalue()


def create(client, headers, name: str = "digits", **fields) -> dict:
    answer = client.post(MODELS, headers=headers, json={"name": name, **fields})
    assert answer.status_code == 201, answer.text
    return answer.json()


def upload(client, headers, model_id: str, body: bytes):
    return client.post(f"{MODELS}/{model_id}/versions/upload", content=body,
                       headers={**headers, "Content-Type": "application/octet-stream"})


def uploaded(client, headers, model_id: str, name: str = "keras_dense", folder: str = "") -> dict:
    answer = upload(client, headers, model_id, archive(saved_model_files(name), folder))
    assert answer.status_code == 201, answer.text
    return answer.json()


def version_folders(settings, model_id: str) -> list[str]:
    folder = settings.artifacts_dir / "models" / model_id
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_models_are_made_listed_described_and_deleted_with_names_unique_per_owner(
        client, make_user, admin):
    alice, bob = make_user("alice"), make_user("bob")
    model = create(client, alice, "digits", description="MNIST digits")
    assert len(model["id"]) == 32 and int(model["id"], 16) >= 0
    assert {k: model[k] for k in ("name", "owner", "description", "labels", "versions",
                                  "latest")} == {
        "name": "digits", "owner": "alice", "description": "MNIST digits", "labels": {},
        "versions": 0, "latest": None}
    taken = client.post(MODELS, headers=alice, json={"name": "digits"})
    assert taken.status_code == 409 and taken.json()["reason"] == "model_exists"
    assert "digits" in taken.json()["detail"]
    theirs = create(client, bob, "digits")  # another owner: the same name is fine
    assert theirs["id"] != model["id"] and theirs["owner"] == "bob"
    create(client, alice, "another")

    for body in [{"name": "Digits"}, {"name": "-x"}, {"name": "x" * 64}, {},
                 {"name": "ok", "surprise": 1}, {"name": "ok", "description": "x" * 4097}]:
        assert client.post(MODELS, headers=alice, json=body).status_code == 422, body

    mine = client.get(MODELS, headers=alice).json()
    assert mine["count"] == 2 and [m["name"] for m in mine["data"]] == ["another", "digits"]
    assert client.get(MODELS, headers=bob).json()["count"] == 1
    everyone = client.get(MODELS, headers=admin).json()
    assert everyone["count"] == 3
    assert {(m["owner"], m["name"]) for m in everyone["data"]} == {
        ("alice", "digits"), ("alice", "another"), ("bob", "digits")}
    only_bob = client.get(MODELS, headers=admin, params={"owner": "bob"}).json()
    assert only_bob["count"] == 1 and only_bob["data"][0]["id"] == theirs["id"]
    page = client.get(MODELS, headers=admin, params={"limit": 1, "offset": 1}).json()
    assert page["count"] == 3 and len(page["data"]) == 1

    changed = client.patch(f"{MODELS}/{model['id']}", headers=alice,
                           json={"description": "handwritten digits"})
    assert changed.status_code == 200 and changed.json()["description"] == "handwritten digits"
    assert client.get(f"{MODELS}/{model['id']}", headers=alice).json()["description"] == \
        "handwritten digits"
    assert client.patch(f"{MODELS}/{model['id']}", headers=alice,
                        json={"name": "renamed"}).status_code == 422

    assert client.delete(f"{MODELS}/{model['id']}", headers=alice).status_code == 204
    gone = client.get(f"{MODELS}/{model['id']}", headers=alice)
    assert gone.status_code == 404 and gone.json()["reason"] == "model_not_found"
    assert client.delete(f"{MODELS}/{model['id']}", headers=alice).status_code == 404
    assert create(client, alice, "digits")["versions"] == 0  # the name is free again
    assert client.get(f"{MODELS}/not-an-id", headers=alice).status_code == 422


def test_uploaded_archives_become_numbered_versions_with_their_signatures(
        client, make_user, settings, db):
    alice = make_user("alice")
    model = create(client, alice)
    files = saved_model_files("keras_dense")
    body = archive(files)  # files at the top of the archive
    answer = upload(client, alice, model["id"], body)
    assert answer.status_code == 201, answer.text
    first = answer.json()
    assert first["version"] == 1 and first["labels"] == []
    assert first["signatures"] == expected("keras_dense")
    assert first["source"] == {"upload": len(body)}
    assert first["size_bytes"] == sum(len(data) for data in files.values())
    kept = settings.artifacts_dir / "models" / model["id"] / "1"
    assert first["location"] == str(kept)
    assert (kept / "saved_model.pb").read_bytes() == files["saved_model.pb"]
    assert (kept / "variables" / "variables.index").read_bytes() == b"index"

    # Inside one folder of the archive: that folder is the SavedModel.
    second = uploaded(client, alice, model["id"], "two_inputs", folder="export")
    assert second["version"] == 2 and second["signatures"] == expected("two_inputs")
    assert (settings.artifacts_dir / "models" / model["id"] / "2" / "saved_model.pb").is_file()
    assert not (settings.artifacts_dir / "models" / model["id"] / "2" / "export").exists()
    third = uploaded(client, alice, model["id"], "several_signatures")
    assert third["version"] == 3
    assert set(third["signatures"]) == {"any_rank", "flags", "scores", "serving_default"}
    assert third["signatures"] == expected("several_signatures")

    listed = client.get(f"{MODELS}/{model['id']}/versions", headers=alice).json()
    assert listed["count"] == 3 and [v["version"] for v in listed["data"]] == [3, 2, 1]
    page = client.get(f"{MODELS}/{model['id']}/versions", headers=alice,
                      params={"offset": 1, "limit": 1}).json()
    assert page["count"] == 3 and [v["version"] for v in page["data"]] == [2]
    shown = client.get(f"{MODELS}/{model['id']}", headers=alice).json()
    assert (shown["versions"], shown["latest"]) == (3, 3)
    one = client.get(f"{MODELS}/{model['id']}/versions/2", headers=alice)
    assert one.status_code == 200 and one.json() == second
    missing = client.get(f"{MODELS}/{model['id']}/versions/9", headers=alice)
    assert missing.status_code == 404 and missing.json()["reason"] == "version_not_found"
    assert client.get(f"{MODELS}/{model['id']}/versions/0", headers=alice).status_code == 422

    assert client.delete(f"{MODELS}/{model['id']}/versions/2", headers=alice).status_code == 204
    assert client.get(f"{MODELS}/{model['id']}/versions/2", headers=alice).status_code == 404
    assert version_folders(settings, model["id"]) == ["1", "3"]
    assert client.delete(f"{MODELS}/{model['id']}/versions/2",
                         headers=alice).status_code == 404
    assert client.delete(f"{MODELS}/{model['id']}", headers=alice).status_code == 204
    assert not (settings.artifacts_dir / "models" / model["id"]).exists()
    with db() as session:
        assert session.scalars(select(ModelVersion).where(
            ModelVersion.model_id == model["id"])).all() == []


def test_an_upload_that_is_no_saved_model_is_refused_and_leaves_nothing_behind(
        client, make_user, settings, db):
    alice = make_user("alice")
    model = create(client, alice)
    pb = (FIXTURES / "keras_dense" / "saved_model.pb").read_bytes()
    for body, reason, says in [
        (b"", "bad_archive", "empty"),
        (b"not a gzip archive at all", "bad_archive", ".tar.gz"),
        (archive({"README.md": b"hello"}), "not_a_saved_model", "saved_model.pb"),
        (archive({"model.keras": b"PK"}), "not_a_saved_model", "Keras"),
        (archive({"saved_model.pbtxt": b"meta_graphs {}"}), "not_a_saved_model", "text format"),
        (archive({"1/saved_model.pb": pb, "2/saved_model.pb": pb}), "not_a_saved_model",
         "base folder"),
        (archive({"saved_model.pb": b"\xff\xff\xff garbage"}), "not_a_saved_model", ""),
        (archive({"a/saved_model.pb": pb, "b/saved_model.pb": pb}), "not_a_saved_model",
         "saved_model.pb"),
        (archive({"../saved_model.pb": pb}), "bad_archive", "leads out"),
        (archive({"/tmp/saved_model.pb": pb}), "bad_archive", "leads out"),
        (archive({"saved_model.pb": pb}, links={"variables": "/etc"}), "bad_archive", "link"),
    ]:
        answer = upload(client, alice, model["id"], body)
        assert answer.status_code == 400, (body[:40], answer.text)
        assert answer.json()["reason"] == reason, answer.text
        assert says in answer.json()["detail"], answer.text
    assert client.get(f"{MODELS}/{model['id']}/versions", headers=alice).json()["count"] == 0
    assert client.get(f"{MODELS}/{model['id']}", headers=alice).json()["latest"] is None
    with db() as session:
        assert session.scalars(select(ModelVersion)).all() == []
    assert version_folders(settings, model["id"]) == []
    # A refusal takes no number: the next good upload is version 1.
    assert uploaded(client, alice, model["id"])["version"] == 1


def test_a_folder_under_the_allowed_roots_registers_and_others_are_refused(
        client, make_user, settings, tmp_path, db):
    alice = make_user("alice")
    model = create(client, alice)
    versions = f"{MODELS}/{model['id']}/versions"
    shared = tmp_path / "shared"
    shutil.copytree(FIXTURES / "strings", shared / "exports" / "strings")
    (shared / "empty").mkdir()
    (shared / "escape").symlink_to(FIXTURES / "keras_dense")
    settings.environment_volume_roots = [shared]

    answer = client.post(versions, headers=alice, json={"path": str(shared / "exports" /
                                                                    "strings")})
    assert answer.status_code == 201, answer.text
    version = answer.json()
    assert version["version"] == 1 and version["signatures"] == expected("strings")
    assert version["source"] == {"path": str(shared / "exports" / "strings")}
    kept = settings.artifacts_dir / "models" / model["id"] / "1"
    assert (kept / "saved_model.pb").read_bytes() == \
        (FIXTURES / "strings" / "saved_model.pb").read_bytes()
    # A copy: the folder may change or go, the version stays.
    shutil.rmtree(shared / "exports")
    assert (kept / "saved_model.pb").is_file()

    for body, status, reason in [
        ({"path": str(FIXTURES / "keras_dense")}, 400, "volume_outside_roots"),
        ({"path": "/etc"}, 400, "volume_outside_roots"),
        ({"path": str(shared / "escape")}, 400, "volume_outside_roots"),  # a link out of it
        ({"path": str(shared / "nothing-here")}, 400, "no_saved_model"),
        ({"path": str(shared / "empty")}, 400, "not_a_saved_model"),
        ({"path": f"{shared}/empty/../../x"}, 422, None),
        ({"path": "relative/folder"}, 422, None),
        ({}, 422, None),
        ({"path": str(shared / "empty"), "job": {"id": "0" * 32}}, 422, None),
        ({"path": str(shared / "empty"), "surprise": 1}, 422, None),
    ]:
        answer = client.post(versions, headers=alice, json=body)
        assert answer.status_code == status, (body, answer.text)
        assert answer.json()["detail"]
        if reason:
            assert answer.json()["reason"] == reason, (body, answer.text)
    empty = client.post(versions, headers={**alice, "Content-Type": "application/json"},
                        content=b"")
    assert empty.status_code == 422
    assert client.get(versions, headers=alice).json()["count"] == 1
    assert version_folders(settings, model["id"]) == ["1"]
    with db() as session:
        assert len(session.scalars(select(ModelVersion)).all()) == 1


def test_with_no_allowed_roots_no_folder_registers(client, make_user, settings, tmp_path):
    alice = make_user("alice")
    model = create(client, alice)
    shutil.copytree(FIXTURES / "strings", tmp_path / "strings")
    settings.environment_volume_roots = []
    answer = client.post(f"{MODELS}/{model['id']}/versions", headers=alice,
                         json={"path": str(tmp_path / "strings")})
    assert answer.status_code == 400 and answer.json()["reason"] == "volume_outside_roots"


def submit_job(client, headers) -> dict:
    answer = client.post("/api/v1/jobs", headers=headers, json=JOB)
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_a_jobs_output_registers_for_its_owner_only(client, make_user, catalogue, settings,
                                                    admin):
    alice, bob = make_user("alice"), make_user("bob")
    model = create(client, alice)
    versions = f"{MODELS}/{model['id']}/versions"
    job = submit_job(client, alice)
    output = settings.artifacts_dir / "jobs" / job["id"] / "output"
    assert Path(job["artifacts"]) / "output" == output and output.is_dir()
    shutil.copytree(FIXTURES / "two_inputs", output / "export" / "1")
    for name in ("saved_model.pb", "expected.json"):  # the output folder itself, too
        shutil.copy(FIXTURES / "fixed_shape" / name, output / name)

    answer = client.post(versions, headers=alice,
                         json={"job": {"id": job["id"], "path": "export/1"}})
    assert answer.status_code == 201, answer.text
    version = answer.json()
    assert version["version"] == 1 and version["signatures"] == expected("two_inputs")
    assert version["source"] == {"job": job["id"], "path": "export/1"}
    kept = settings.artifacts_dir / "models" / model["id"] / "1"
    assert (kept / "saved_model.pb").read_bytes() == \
        (FIXTURES / "two_inputs" / "saved_model.pb").read_bytes()
    top = client.post(versions, headers=alice, json={"job": {"id": job["id"]}})
    assert top.status_code == 201, top.text
    assert top.json()["version"] == 2 and top.json()["signatures"] == expected("fixed_shape")
    assert top.json()["source"] == {"job": job["id"], "path": ""}

    (output / "outside").symlink_to(FIXTURES / "keras_dense")
    bobs = submit_job(client, bob)
    for body, status, reason in [
        ({"job": {"id": job["id"], "path": "export/9"}}, 400, "no_saved_model"),
        ({"job": {"id": job["id"], "path": "export"}}, 400, "not_a_saved_model"),
        ({"job": {"id": job["id"], "path": "outside"}}, 400, "bad_model_path"),
        ({"job": {"id": job["id"], "path": "../checkpoints"}}, 422, None),
        ({"job": {"id": job["id"], "path": "export/../../logs"}}, 422, None),
        ({"job": {"id": job["id"], "path": "/etc"}}, 422, None),
        ({"job": {"id": "0" * 32, "path": "export/1"}}, 404, None),
        ({"job": {"id": bobs["id"]}}, 404, None),  # bob's job: not alice's to see
        ({"job": {"id": "not-a-job"}}, 422, None),
        ({"job": {"path": "export/1"}}, 422, None),
    ]:
        answer = client.post(versions, headers=alice, json=body)
        assert answer.status_code == status, (body, answer.text)
        assert answer.json()["detail"]
        if reason:
            assert answer.json()["reason"] == reason, (body, answer.text)
    assert client.get(versions, headers=alice).json()["count"] == 2
    assert version_folders(settings, model["id"]) == ["1", "2"]
    # An admin sees every job, so may register from bob's into alice's model.
    shutil.copytree(FIXTURES / "strings", Path(bobs["artifacts"]) / "output" / "m")
    by_admin = client.post(versions, headers=admin, json={"job": {"id": bobs["id"],
                                                                  "path": "m"}})
    assert by_admin.status_code == 201 and by_admin.json()["version"] == 3


@pytest.mark.parametrize("source", ["job", "path"])
def test_links_inside_a_saved_model_folder_do_not_copy_files_from_outside_it(
        client, make_user, catalogue, settings, tmp_path, source):
    alice = make_user("alice")
    model = create(client, alice)
    secret = tmp_path / "control-plane-secret"
    secret.write_text("do not leak me")
    if source == "job":
        job = submit_job(client, alice)
        folder = Path(job["artifacts"]) / "output" / "model"  # what a job's code could write
        body = {"job": {"id": job["id"], "path": "model"}}
    else:
        settings.environment_volume_roots = [tmp_path / "shared"]
        folder = tmp_path / "shared" / "model"
        body = {"path": str(folder)}
    shutil.copytree(FIXTURES / "keras_dense", folder)
    (folder / "assets").mkdir()
    (folder / "assets" / "vocab.txt").symlink_to(secret)
    answer = client.post(f"{MODELS}/{model['id']}/versions", headers=alice, json=body)
    kept = settings.artifacts_dir / "models" / model["id"] / "1" / "assets" / "vocab.txt"
    leaked = kept.is_file() and kept.read_text() == "do not leak me"
    assert answer.status_code == 400 or not leaked, "a file outside the folder was copied"


def test_labels_point_at_versions_move_and_go_with_their_version(client, make_user, settings):
    alice = make_user("alice")
    model = create(client, alice)
    labels = f"{MODELS}/{model['id']}/labels"
    for _ in range(3):
        uploaded(client, alice, model["id"])

    answer = client.put(f"{labels}/stable", headers=alice, json={"version": 1})
    assert answer.status_code == 200 and answer.json()["labels"] == {"stable": 1}
    client.put(f"{labels}/canary", headers=alice, json={"version": 2})
    client.put(f"{labels}/prod-eu-2", headers=alice, json={"version": 2})
    moved = client.put(f"{labels}/stable", headers=alice, json={"version": 3}).json()
    assert moved["labels"] == {"stable": 3, "canary": 2, "prod-eu-2": 2}
    version = f"{MODELS}/{model['id']}/versions"
    assert client.get(f"{version}/1", headers=alice).json()["labels"] == []
    assert client.get(f"{version}/2", headers=alice).json()["labels"] == ["canary", "prod-eu-2"]
    assert client.get(f"{version}/3", headers=alice).json()["labels"] == ["stable"]
    listed = client.get(version, headers=alice).json()["data"]
    assert [v["labels"] for v in listed] == [["stable"], ["canary", "prod-eu-2"], []]

    nowhere = client.put(f"{labels}/stable", headers=alice, json={"version": 9})
    assert nowhere.status_code == 404 and nowhere.json()["reason"] == "version_not_found"
    for label in ("Stable", "1st", "-x", "x" * 33, "a_b", "a.b"):
        assert client.put(f"{labels}/{label}", headers=alice,
                          json={"version": 1}).status_code == 422, label
        assert client.delete(f"{labels}/{label}", headers=alice).status_code == 422, label
    for body in ({"version": 0}, {"version": "1"}, {}, {"version": 1, "x": 1}):
        assert client.put(f"{labels}/stable", headers=alice, json=body).status_code == 422, body
    assert client.get(f"{MODELS}/{model['id']}", headers=alice).json()["labels"] == {
        "stable": 3, "canary": 2, "prod-eu-2": 2}

    removed = client.delete(f"{labels}/canary", headers=alice)
    assert removed.status_code == 200 and removed.json()["labels"] == {"stable": 3,
                                                                       "prod-eu-2": 2}
    again = client.delete(f"{labels}/canary", headers=alice)
    assert again.status_code == 404 and again.json()["reason"] == "label_not_found"
    assert client.delete(f"{version}/2", headers=alice).status_code == 204
    assert client.get(f"{MODELS}/{model['id']}", headers=alice).json()["labels"] == {
        "stable": 3}


def test_other_users_can_neither_see_nor_touch_my_models_and_an_admin_sees_all(
        client, make_user, admin, settings):
    alice, bob = make_user("alice"), make_user("bob")
    model = create(client, alice)
    uploaded(client, alice, model["id"])
    client.put(f"{MODELS}/{model['id']}/labels/stable", headers=alice, json={"version": 1})
    base = f"{MODELS}/{model['id']}"
    settings.environment_volume_roots = [FIXTURES]
    for method, path, kwargs in [
        ("GET", base, {}),
        ("PATCH", base, {"json": {"description": "mine now"}}),
        ("DELETE", base, {}),
        ("GET", f"{base}/versions", {}),
        ("GET", f"{base}/versions/1", {}),
        ("DELETE", f"{base}/versions/1", {}),
        ("POST", f"{base}/versions", {"json": {"path": str(FIXTURES / "strings")}}),
        ("POST", f"{base}/versions/upload",
         {"content": archive(saved_model_files("strings"))}),
        ("PUT", f"{base}/labels/stable", {"json": {"version": 1}}),
        ("PUT", f"{base}/labels/other", {"json": {"version": 1}}),
        ("DELETE", f"{base}/labels/stable", {}),
    ]:
        answer = client.request(method, path, headers=bob, **kwargs)
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["reason"] == "model_not_found", (method, path)
    assert client.get(MODELS, headers=bob).json() == {"data": [], "count": 0}
    assert client.get(MODELS, headers=bob, params={"owner": "alice"}).json()["count"] == 0
    shown = client.get(base, headers=alice).json()
    assert (shown["versions"], shown["labels"], shown["description"]) == (1, {"stable": 1}, "")
    assert len(version_folders(settings, model["id"])) == 1

    assert client.get(base, headers=admin).json()["owner"] == "alice"
    assert client.get(f"{base}/versions", headers=admin).json()["count"] == 1
    assert client.get(MODELS, headers=admin, params={"owner": "alice"}).json()["count"] == 1
    assert client.get(MODELS, headers=admin, params={"owner": "Not A User"}).status_code == 422
    assert client.get(MODELS).status_code == 401


def test_a_model_or_version_a_service_serves_cannot_be_deleted(client, make_user, catalogue,
                                                               settings, db):
    alice = make_user("alice")
    model = create(client, alice)
    for name in ("keras_dense", "two_inputs", "strings"):
        uploaded(client, alice, model["id"], name)
    base = f"{MODELS}/{model['id']}"
    service = client.post("/api/v1/services", headers=alice,
                          json={"name": "web", "model": "digits", "version": 1})
    assert service.status_code == 201, service.text
    sid = service.json()["id"]
    canary = client.post(f"/api/v1/services/{sid}/canary", headers=alice,
                         json={"version": 2, "weight": 10})
    assert canary.status_code == 200, canary.text

    for path in (f"{base}/versions/1", f"{base}/versions/2", base):
        refused = client.delete(path, headers=alice)
        assert refused.status_code == 409, (path, refused.text)
        assert refused.json()["reason"] == "model_in_use" and "web" in refused.json()["detail"]
    assert client.delete(f"{base}/versions/3", headers=alice).status_code == 204
    assert version_folders(settings, model["id"]) == ["1", "2"]
    assert client.get(base, headers=alice).json()["versions"] == 2

    assert client.post(f"/api/v1/services/{sid}/rollback", headers=alice).status_code == 200
    assert client.delete(f"{base}/versions/2", headers=alice).status_code == 204
    assert client.delete(f"/api/v1/services/{sid}", headers=alice).status_code == 204
    assert client.delete(f"{base}/versions/1", headers=alice).status_code == 204
    assert client.delete(base, headers=alice).status_code == 204
    assert not (settings.artifacts_dir / "models" / model["id"]).exists()
    with db() as session:
        assert session.scalars(select(ModelVersion)).all() == []
