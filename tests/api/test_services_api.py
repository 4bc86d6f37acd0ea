"""The prediction services' API. With no agent running, replicas wait in the queue: what is
refused before anything is made, what a service asks for (tracks: stable, canary; their
versions, weights and replicas) as it is updated, canaried, promoted and rolled back, access
tokens, the control plane's answers on the public endpoint, other users, and deletion. The
last tests play a docker host's agent and stand fake dllab-serve replicas (health and
/metrics) on loopback, to see the serving loop's round route them on the edge proxy."""

from __future__ import annotations

import io
import json
import tarfile
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import select

from dllab.db.models import Service, ServiceReplica, Unit
from dllab.protocol import TASK_START_UNIT, TASK_STOP_UNIT
from dllab.services import rollout

SERVICES = "/api/v1/services"
MODELS = "/api/v1/models"
FIXTURES = Path(__file__).parents[1] / "unit" / "data" / "saved_models"
IMAGE = {"name": "dllab/runtime", "tag": "tf-cpu", "framework": "tensorflow",
         "framework_version": "2.21.0"}
PREDICT = "/serving/{}/v1/models/digits:predict"


@pytest.fixture
def settings(settings):
    settings.serving_seconds = 0  # no serving loop: the tests run its rounds themselves
    return settings


@pytest.fixture
def catalogue(client, admin):
    assert client.post("/api/v1/images", headers=admin, json=IMAGE).status_code == 201


def archive(name: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = (FIXTURES / name / "saved_model.pb").read_bytes()
        info = tarfile.TarInfo("saved_model.pb")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def make_model(client, headers, name: str = "digits",
               versions: tuple[str, ...] = ("keras_dense", "two_inputs")) -> dict:
    answer = client.post(MODELS, headers=headers, json={"name": name})
    assert answer.status_code == 201, answer.text
    model = answer.json()
    for fixture in versions:
        added = client.post(f"{MODELS}/{model['id']}/versions/upload", content=archive(fixture),
                            headers={**headers, "Content-Type": "application/octet-stream"})
        assert added.status_code == 201, added.text
    return model


@pytest.fixture
def alice(make_user, client, catalogue):
    """alice, with model digits: version 1 (keras_dense), 2 (two_inputs); stable -> 1."""
    headers = make_user("alice")
    model = make_model(client, headers)
    assert client.put(f"{MODELS}/{model['id']}/labels/stable", headers=headers,
                      json={"version": 1}).status_code == 200
    return headers


def create(client, headers, **fields) -> dict:
    answer = client.post(SERVICES, headers=headers, json={"name": "web", "model": "digits",
                                                          **fields})
    assert answer.status_code == 201, answer.text
    return answer.json()


def get(client, headers, service_id: str) -> dict:
    answer = client.get(f"{SERVICES}/{service_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def tracks(service: dict) -> list[tuple[str, int, int, int]]:
    return [(t["name"], t["version"], t["weight"], t["replicas"]) for t in service["tracks"]]


def live(service: dict) -> list[tuple[str, int, str]]:
    """(track, version, state) of each replica not ended, oldest first."""
    return [(r["track"], r["version"], r["state"]) for r in service["replicas"]
            if not r["state"].startswith("ended")]


def routes_file(settings, name: str = "web") -> Path:
    return settings.edge_dir / "dynamic" / f"service-{name}.yaml"


def serving_round(app, settings) -> None:
    context = app.state.context
    rollout.reconcile_all(context.sessions, settings, context.dispatcher, context.serving)


def test_a_service_waits_in_the_queue_for_a_host_with_its_replicas_shown(
        client, alice, settings, db):
    service = create(client, alice, replicas=2)
    assert len(service["id"]) == 32
    assert {k: service[k] for k in ("name", "owner", "model", "status", "token",
                                    "token_required")} == {
        "name": "web", "owner": "alice", "model": "digits", "status": "starting",
        "token": None, "token_required": False}
    assert service["reason"].startswith("a replica waits in the queue"), service["reason"]
    assert service["url"] == f"{settings.public_edge_url}/serving/web/v1/models/digits"
    assert tracks(service) == [("stable", 2, 100, 2)]  # neither version nor label: the newest
    assert live(service) == [("stable", 2, "queued")] * 2
    for replica in service["replicas"]:
        assert replica["host"] is None and replica["address"] is None
        assert replica["gpus"] == [] and replica["ready_at"] is None
    spec = service["spec"]
    assert spec["image"] == "dllab/runtime:tf-cpu" and spec["gpus_per_replica"] == 0
    assert spec["batching"] == {"max_batch_size": 32, "batch_timeout_ms": 2}
    assert "token" not in spec
    with db() as session:
        units = session.scalars(select(Unit).where(Unit.kind == "service")).all()
        assert {u.id for u in units} == {r["unit"] for r in service["replicas"]}
        assert {u.state for u in units} == {"queued"}
        [unit] = units[:1]
        assert unit.spec["image"] == "dllab/runtime:tf-cpu" and unit.spec["ports"] == [8501]
        assert unit.spec["command"][:3] == ["dllab-serve", "--model-name", "digits"]

    shown = get(client, alice, service["id"])
    assert "token" not in shown
    assert shown == {k: v for k, v in service.items() if k != "token"}
    listed = client.get(SERVICES, headers=alice).json()
    assert listed["count"] == 1 and listed["data"][0]["id"] == service["id"]
    assert not routes_file(settings).exists()  # no replica ready: the control plane answers
    for _ in range(3):  # waiting for a host (or a GPU) is never a reason to replace one
        serving_round(client.app, settings)
    assert not routes_file(settings).exists()
    waiting = get(client, alice, service["id"])
    assert live(waiting) == [("stable", 2, "queued")] * 2
    assert [r["id"] for r in waiting["replicas"]] == [r["id"] for r in service["replicas"]]

    unit = client.get(f"/api/v1/units/{service['replicas'][0]['unit']}", headers=alice)
    assert unit.status_code == 200 and unit.json()["state"] == "queued"


def test_versions_and_labels_resolve_and_bad_asks_are_refused_before_anything_is_made(
        client, alice, make_user, agent_host, db):
    bob = make_user("bob")
    make_model(client, bob, "bobs-model")
    make_model(client, alice, "empty", versions=())
    for body, status, reason in [
        ({"model": "nosuch"}, 400, "model_not_found"),
        ({"model": "bobs-model"}, 400, "model_not_found"),  # bob's, not alice's
        ({"model": "empty"}, 400, "no_versions"),
        ({"label": "nope"}, 400, "label_not_found"),
        ({"version": 1, "label": "stable"}, 422, None),
        ({"version": 0}, 422, None),
        ({"label": "Not-A-Label"}, 422, None),
        ({"image": "dllab/runtime:nosuch"}, 400, "unknown_image"),
        ({"autoscale": {"min": 3, "max": 2, "target": 10}}, 422, None),
        ({"autoscale": {"min": 1, "max": 2}}, 422, None),  # no target
        ({"autoscale": {"target": 0}}, 422, None),
        ({"autoscale": {"target": 5, "metric": "cpu"}}, 422, None),
        ({"replicas": 65}, 422, None),
        ({"replicas": -1}, 422, None),
        ({"batching": {"max_batch_size": 0}}, 422, None),
        ({"name": "Web"}, 422, None),
        ({"name": "w" * 64}, 422, None),
        ({"memory_mib": 16}, 422, None),
        ({"surprise": True}, 422, None),
        ({"token": "yes"}, 422, None),
    ]:
        answer = client.post(SERVICES, headers=alice,
                             json={"name": "web", "model": "digits", **body})
        assert answer.status_code == status, (body, answer.text)
        assert answer.json()["detail"]
        if reason:
            assert answer.json()["reason"] == reason, (body, answer.text)
    assert client.get(SERVICES, headers=alice).json()["count"] == 0
    with db() as session:
        assert session.scalars(select(Unit)).all() == []
        assert session.scalars(select(ServiceReplica)).all() == []

    by_label = create(client, alice, name="by-label", label="stable")
    assert tracks(by_label) == [("stable", 1, 100, 1)]
    by_number = create(client, alice, name="by-number", version=1, replicas=0)
    assert tracks(by_number) == [("stable", 1, 100, 0)] and by_number["replicas"] == []
    assert by_number["status"] == "stopped"
    clamped = create(client, alice, name="scaled", replicas=1,
                     autoscale={"min": 2, "max": 3, "metric": "latency_p95", "target": 50})
    assert tracks(clamped) == [("stable", 2, 100, 2)] and len(live(clamped)) == 2
    assert clamped["spec"]["autoscale"] == {"min": 2, "max": 3, "metric": "latency_p95",
                                            "target": 50, "scale_down_delay_seconds": 60}
    capped = create(client, alice, name="capped", replicas=9, autoscale={"max": 3, "target": 5})
    assert tracks(capped) == [("stable", 2, 100, 3)]

    # What a host's inventory rules out once hosts have registered.
    agent_host("cpu-1", gpus=0, runtime="process")
    refused = client.post(SERVICES, headers=alice, json={"name": "web", "model": "digits"})
    assert refused.status_code == 400 and refused.json()["reason"] == "needs_docker_host"
    agent_host("gpu-1", gpus=2, runtime="docker")
    refused = client.post(SERVICES, headers=alice,
                          json={"name": "web", "model": "digits", "gpus_per_replica": 3})
    assert refused.status_code == 400 and refused.json()["reason"] == "too_many_gpus"
    assert client.get(SERVICES, headers=alice).json()["count"] == 4


def test_an_unknown_version_in_the_body_is_a_bad_request_like_an_unknown_label(client, alice):
    answer = client.post(SERVICES, headers=alice,
                         json={"name": "web", "model": "digits", "version": 9})
    assert answer.json()["reason"] == "version_not_found"
    assert answer.status_code == 400


def test_service_names_are_unique_across_users(client, alice, make_user, db):
    bob = make_user("bob")
    make_model(client, bob)  # bob's own model digits
    mine = create(client, alice)
    taken = client.post(SERVICES, headers=bob, json={"name": "web", "model": "digits"})
    assert taken.status_code == 409 and taken.json()["reason"] == "service_exists"
    again = client.post(SERVICES, headers=alice, json={"name": "web", "model": "digits"})
    assert again.status_code == 409
    assert client.get(SERVICES, headers=bob).json()["count"] == 0
    with db() as session:  # the refused ones made no replica
        assert {u.id for u in session.scalars(select(Unit))} == {r["unit"]
                                                                 for r in mine["replicas"]}
    theirs = create(client, bob, name="web-bob")
    assert theirs["owner"] == "bob" and theirs["model_id"] != mine["model_id"]


def test_update_canary_promote_and_rollback_change_the_tracks(client, alice, app, settings,
                                                              db):
    sid = create(client, alice, version=1)["id"]
    base = f"{SERVICES}/{sid}"

    canary = client.post(f"{base}/canary", headers=alice, json={"version": 2, "weight": 25})
    assert canary.status_code == 200, canary.text
    service = canary.json()
    assert tracks(service) == [("stable", 1, 75, 1), ("canary", 2, 25, 1)]
    assert live(service) == [("stable", 1, "queued"), ("canary", 2, "queued")]
    for body, status, reason in [
        ({"version": 1}, 400, "canary_is_stable"),
        ({"label": "stable"}, 400, "canary_is_stable"),  # stable -> 1, the stable's
        ({"label": "nope"}, 400, "label_not_found"),
        ({"version": 2, "weight": 0}, 422, None),
        ({"version": 2, "weight": 100}, 422, None),
        ({"version": 2, "replicas": 0}, 422, None),
        ({"version": 2, "label": "stable"}, 422, None),
    ]:
        answer = client.post(f"{base}/canary", headers=alice, json=body)
        assert answer.status_code == status, (body, answer.text)
        if reason:
            assert answer.json()["reason"] == reason, (body, answer.text)
    # Again: a new weight (and replicas) for the same canary, no new replica for it.
    service = client.post(f"{base}/canary", headers=alice,
                          json={"version": 2, "weight": 40, "replicas": 2}).json()
    assert tracks(service) == [("stable", 1, 60, 1), ("canary", 2, 40, 2)]
    assert sorted(live(service)) == [("canary", 2, "queued")] * 2 + [("stable", 1, "queued")]

    promoted = client.post(f"{base}/promote", headers=alice)
    assert promoted.status_code == 200, promoted.text
    service = promoted.json()
    assert tracks(service) == [("stable", 2, 100, 1)]  # the stable's replica count stays
    states = live(service)
    assert ("stable", 1, "draining") in states  # the old version's replica goes
    assert all(track == "stable" for track, _, _ in states)
    assert sorted(s for s in states if s[2] != "draining") == [("stable", 2, "queued")]
    # Never routed and never started: the serving loop's next rounds stop it.
    serving_round(app, settings)
    serving_round(app, settings)
    service = get(client, alice, sid)
    assert live(service) == [("stable", 2, "queued")]
    assert {r["state"] for r in service["replicas"]} == {"queued", "ended (stopped)"}
    with db() as session:
        states = {u.state for u in session.scalars(select(Unit))}
        assert states == {"queued", "stopped"}

    for action in ("promote", "rollback"):
        refused = client.post(f"{base}/{action}", headers=alice)
        assert refused.status_code == 400 and refused.json()["reason"] == "no_canary", action

    client.post(f"{base}/canary", headers=alice, json={"version": 1, "weight": 10})
    rolled = client.post(f"{base}/rollback", headers=alice)
    assert rolled.status_code == 200
    service = rolled.json()
    assert tracks(service) == [("stable", 2, 100, 1)]
    assert sorted(live(service)) == [("canary", 1, "draining"), ("stable", 2, "queued")]

    # A version change rolls the stable track over; replicas and autoscale resize it.
    updated = client.patch(base, headers=alice, json={"label": "stable"})
    assert updated.status_code == 200, updated.text
    service = updated.json()
    assert tracks(service) == [("stable", 1, 100, 1)]
    assert ("stable", 1, "queued") in live(service)
    service = client.patch(base, headers=alice, json={"replicas": 3}).json()
    assert tracks(service) == [("stable", 1, 100, 3)]
    assert [s for s in live(service) if s[2] == "queued"] == [("stable", 1, "queued")] * 3
    service = client.patch(base, headers=alice,
                           json={"autoscale": {"min": 1, "max": 2, "target": 20}}).json()
    assert tracks(service) == [("stable", 1, 100, 2)]  # clamped to the new max
    assert service["spec"]["autoscale"]["max"] == 2
    assert [s for s in live(service) if s[2] == "queued"] == [("stable", 1, "queued")] * 2
    service = client.patch(base, headers=alice, json={"autoscale_off": True,
                                                      "replicas": 4}).json()
    assert service["spec"]["autoscale"] is None and tracks(service) == [("stable", 1, 100, 4)]
    service = client.patch(base, headers=alice, json={"replicas": 0}).json()
    assert tracks(service) == [("stable", 1, 100, 0)]
    assert all(state == "draining" for _, _, state in live(service))
    serving_round(app, settings)
    serving_round(app, settings)
    service = get(client, alice, sid)
    assert live(service) == [] and service["status"] == "stopped"
    for body in ({"version": 1, "label": "stable"}, {"replicas": -1}, {"version": "2"},
                 {"autoscale": {"min": 5, "max": 1, "target": 1}}):
        assert client.patch(base, headers=alice, json=body).status_code == 422, body
    unknown = client.patch(base, headers=alice, json={"label": "nope"})
    assert unknown.status_code == 400 and unknown.json()["reason"] == "label_not_found"
    assert tracks(get(client, alice, sid)) == [("stable", 1, 100, 0)]


def test_a_token_is_shown_once_rotated_and_dropped_and_the_public_endpoint_checks_it(
        client, alice, settings, db):
    created = create(client, alice, token=True)
    token = created["token"]
    assert isinstance(token, str) and len(token) >= 24 and created["token_required"]
    shown = get(client, alice, created["id"])
    assert "token" not in shown and shown["token_required"] is True
    assert token not in json.dumps(client.get(SERVICES, headers=alice).json())
    with db() as session:  # sealed, not kept as it is
        sealed = session.get(Service, created["id"]).token
        assert sealed and token not in sealed

    predict = PREDICT.format("web")
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token},
                    {"Authorization": f"Bearer {token}x"}):
        answer = client.post(predict, headers=headers, json={"instances": [[0, 0, 0, 0]]})
        assert answer.status_code == 401, (headers, answer.text)
        assert list(answer.json()) == ["error"] and "token" in answer.json()["error"]
    answer = client.post(predict, headers={"Authorization": f"Bearer {token}"},
                         json={"instances": [[0, 0, 0, 0]]})
    assert answer.status_code == 503 and list(answer.json()) == ["error"]
    assert "no replica ready" in answer.json()["error"]

    rotated = client.post(f"{SERVICES}/{created['id']}/token", headers=alice)
    assert rotated.status_code == 200
    new = rotated.json()["token"]
    assert new != token and list(rotated.json()) == ["token"]
    assert client.post(predict, headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert client.post(predict, headers={"Authorization": f"Bearer {new}"}).status_code == 503
    assert get(client, alice, created["id"])["token_required"] is True

    assert client.delete(f"{SERVICES}/{created['id']}/token", headers=alice).status_code == 204
    assert get(client, alice, created["id"])["token_required"] is False
    assert client.post(predict).status_code == 503
    with db() as session:
        assert session.get(Service, created["id"]).token is None

    # Without a token from the start: anyone reaching it gets the 503 while nothing serves.
    open_one = create(client, alice, name="open")
    assert open_one["token"] is None and open_one["token_required"] is False
    answer = client.get("/serving/open/v1/models/digits/metadata")
    assert answer.status_code == 503 and "starting" in answer.json()["error"]


def test_the_public_endpoint_answers_in_tf_servings_error_shape(client, alice):
    for method, path in [("POST", "/serving/nosuch/v1/models/digits:predict"),
                         ("GET", "/serving/nosuch/v1/models/digits"),
                         ("POST", "/serving/nosuch/v1/models/digits/versions/3:predict")]:
        answer = client.request(method, path, json={"instances": [1]})
        assert answer.status_code == 404, answer.text
        assert list(answer.json()) == ["error"] and "nosuch" in answer.json()["error"]
    create(client, alice)
    for method, path in [("POST", "/serving/web/v1/models/digits:predict"),
                         ("POST", "/serving/web/v1/models/digits/labels/stable:predict"),
                         ("GET", "/serving/web/v1/models/digits")]:
        answer = client.request(method, path, json={"instances": [1]})
        assert answer.status_code == 503, answer.text
        assert list(answer.json()) == ["error"] and "web" in answer.json()["error"]


def test_a_name_no_service_can_have_is_also_a_404_in_tf_servings_shape(client):
    answer = client.post("/serving/Bad_Name/v1/models/digits:predict", json={"instances": []})
    assert answer.status_code == 404 and list(answer.json()) == ["error"]


def test_examples_openapi_and_metrics_of_a_service(client, alice, settings):
    service = create(client, alice, version=1)
    base = f"{SERVICES}/{service['id']}"
    examples = client.get(f"{base}/examples", headers=alice)
    assert examples.status_code == 200, examples.text
    assert set(examples.json()) == {"serving_default"}  # keras_dense's signature
    assert set(examples.json()["serving_default"]) == {"instances", "inputs"}

    document = client.get(f"{base}/openapi.json", headers=alice)
    assert document.status_code == 200, document.text
    doc = document.json()
    assert doc["openapi"].startswith("3.1")
    assert doc["servers"] == [{"url": f"{settings.public_edge_url.rstrip('/')}/serving/web"}]
    assert "/v1/models/digits:predict" in doc["paths"]
    assert "401" not in json.dumps(doc["paths"]["/v1/models/digits:predict"])

    # Version 2 on the stable track: its signature (two inputs) is the one described.
    client.patch(base, headers=alice, json={"version": 2})
    examples = client.get(f"{base}/examples", headers=alice).json()
    row = examples["serving_default"]["instances"]["instances"][0]
    assert set(row) == {"features", "ids"}
    client.post(f"{base}/token", headers=alice)
    doc = client.get(f"{base}/openapi.json", headers=alice).json()
    assert "401" in json.dumps(doc["paths"]["/v1/models/digits:predict"])

    assert client.get(f"{base}/metrics", headers=alice).json() == {"points": []}
    assert client.get(f"{base}/metrics", headers=alice,
                      params={"seconds": 60}).json() == {"points": []}
    for seconds in (0, -1, 3601):
        assert client.get(f"{base}/metrics", headers=alice,
                          params={"seconds": seconds}).status_code == 422


def test_other_users_get_404_and_an_admin_sees_every_service(client, alice, make_user, admin):
    bob = make_user("bob")
    service = create(client, alice)
    base = f"{SERVICES}/{service['id']}"
    for method, path, body in [
        ("GET", base, None), ("PATCH", base, {"replicas": 3}), ("DELETE", base, None),
        ("POST", f"{base}/canary", {"version": 1}), ("POST", f"{base}/promote", None),
        ("POST", f"{base}/rollback", None), ("POST", f"{base}/token", None),
        ("DELETE", f"{base}/token", None), ("GET", f"{base}/metrics", None),
        ("GET", f"{base}/openapi.json", None), ("GET", f"{base}/examples", None),
    ]:
        answer = client.request(method, path, headers=bob, json=body)
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["reason"] == "service_not_found"
    assert client.get(SERVICES, headers=bob).json() == {"data": [], "count": 0}
    assert tracks(get(client, alice, service["id"])) == [("stable", 2, 100, 1)]
    assert get(client, alice, service["id"])["token_required"] is False

    assert get(client, admin, service["id"])["owner"] == "alice"
    assert client.get(SERVICES, headers=admin).json()["count"] == 1
    assert client.get(SERVICES, headers=admin, params={"owner": "bob"}).json()["count"] == 0
    assert client.get(SERVICES, headers=admin, params={"owner": "alice"}).json()["count"] == 1
    assert client.get(SERVICES).status_code == 401
    assert client.get(f"{SERVICES}/{'0' * 32}", headers=alice).status_code == 404


def test_deleting_a_service_stops_its_queued_replicas_and_frees_its_name(client, alice, db,
                                                                        settings):
    service = create(client, alice, replicas=2)
    client.post(f"{SERVICES}/{service['id']}/canary", headers=alice, json={"version": 1})
    units = [r["unit"] for r in get(client, alice, service["id"])["replicas"]]
    assert len(units) == 3
    assert client.delete(f"{SERVICES}/{service['id']}", headers=alice).status_code == 204
    assert client.get(f"{SERVICES}/{service['id']}", headers=alice).status_code == 404
    assert client.delete(f"{SERVICES}/{service['id']}", headers=alice).status_code == 404
    assert client.get(SERVICES, headers=alice).json()["count"] == 0
    for unit in units:
        shown = client.get(f"/api/v1/units/{unit}", headers=alice).json()
        assert shown["state"] == "stopped", shown
    with db() as session:
        assert session.scalars(select(ServiceReplica)).all() == []
        assert {u.state for u in session.scalars(select(Unit))} == {"stopped"}
    assert not routes_file(settings).exists()
    answer = client.post(PREDICT.format("web"))
    assert answer.status_code == 404 and "error" in answer.json()
    assert create(client, alice)["name"] == "web"  # the name is free again


# --- with replicas that serve -------------------------------------------------------------

class FakeReplica:
    """dllab-serve's health check and /metrics on loopback: 10 more requests answered (one a
    500) at each scrape, all within 5 ms."""

    def __init__(self) -> None:
        self.scrapes = 0
        replica = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if self.path == "/v1/health":
                    body = b'{"status": "ok"}'
                elif self.path == "/metrics":
                    replica.scrapes += 1
                    n = replica.scrapes * 10
                    body = (f'dllab_serve_requests_total{{code="200"}} {n - replica.scrapes}\n'
                            f'dllab_serve_requests_total{{code="500"}} {replica.scrapes}\n'
                            f'dllab_serve_request_duration_seconds_bucket{{le="0.005"}} {n}\n'
                            f'dllab_serve_request_duration_seconds_bucket{{le="+Inf"}} {n}\n'
                            'dllab_serve_inflight_requests 2\n').encode()
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_replicas() -> Iterator[list[FakeReplica]]:
    replicas = [FakeReplica(), FakeReplica()]
    yield replicas
    for replica in replicas:
        replica.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now


def test_ready_replicas_are_routed_on_the_edge_and_unrouted_as_they_go(
        client, alice, agent, app, settings, broker, fake_replicas, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(rollout, "time", clock)  # the stats' points, every 2 s
    monkeypatch.setattr(rollout, "ROUTE_SETTLE", timedelta(0))
    host = agent("cpu-1", gpus=0, runtime="docker", address="127.0.0.1")
    service = create(client, alice, version=1)
    sid = service["id"]
    [replica] = service["replicas"]
    assert replica["state"] == "starting" and replica["host"] == "cpu-1"
    started = {m.args[0]["unit_id"]: m.args[0] for m in broker.messages(TASK_START_UNIT)}
    spec = started[replica["unit"]]
    assert spec["runtime"] == "docker" and spec["ports"] == [8501]
    [mount] = spec["mounts"]
    assert mount["target"] == "/dllab/artifacts/1" and mount["read_only"]
    assert Path(mount["source"], "saved_model.pb").is_file()

    # Running, but not yet seen to answer its health check: not routed.
    assert host.report(replica["unit"], "running",
                       ports={"8501": fake_replicas[0].port}).status_code == 204
    assert get(client, alice, sid)["status"] == "starting"
    assert not routes_file(settings).exists()
    serving_round(app, settings)
    # Routed, and serving from the next round on, once Traefik has loaded the route.
    assert routes_file(settings).exists()
    assert get(client, alice, sid)["replicas"][0]["state"] == "starting"
    serving_round(app, settings)
    service = get(client, alice, sid)
    assert service["status"] == "serving" and service["reason"] is None
    [replica] = service["replicas"]
    assert replica["state"] == "ready" and replica["ready_at"]
    assert replica["address"] == f"127.0.0.1:{fake_replicas[0].port}"
    config = json.loads(routes_file(settings).read_text())
    servers = config["http"]["services"]["svc-web_stable"]["loadBalancer"]["servers"]
    assert servers == [{"url": f"http://127.0.0.1:{fake_replicas[0].port}"}]
    assert "svc-web_v1" in config["http"]["routers"]
    assert "svc-web_label_stable" in config["http"]["routers"]  # stable -> 1, served
    assert "Header" not in json.dumps(config)
    # Reaching the control plane means the edge had no route for it: still a 503.
    assert client.post(PREDICT.format("web")).status_code == 503

    clock.now += 2
    serving_round(app, settings)
    [point] = client.get(f"{SERVICES}/{sid}/metrics", headers=alice).json()["points"]
    assert point["at"] == clock.now and point["replicas"] == 1
    # Three scrapes (two rounds to be served, then this one): 20 requests, 2 failed, in 2 s.
    assert point["rps"] == pytest.approx(20 / 2) and point["errors"] == pytest.approx(2 / 2)
    assert point["p50_ms"] == pytest.approx(2.5) and point["inflight"] == 2

    # The token is in the routes from the next round on; dropping it takes it out.
    token = client.post(f"{SERVICES}/{sid}/token", headers=alice).json()["token"]
    serving_round(app, settings)
    rules = [r["rule"] for r in json.loads(
        routes_file(settings).read_text())["http"]["routers"].values()]
    assert rules and all(r.endswith(f"Header(`Authorization`, `Bearer {token}`)")
                         for r in rules)
    client.delete(f"{SERVICES}/{sid}/token", headers=alice)
    serving_round(app, settings)
    assert "Header" not in routes_file(settings).read_text()

    # A canary, routed once ready; promoted, the old version's replica is unrouted.
    canary = client.post(f"{SERVICES}/{sid}/canary", headers=alice,
                         json={"version": 2, "weight": 20}).json()
    [new] = [r for r in canary["replicas"] if r["track"] == "canary"]
    host.report(new["unit"], "running", ports={"8501": fake_replicas[1].port})
    serving_round(app, settings)
    serving_round(app, settings)
    assert get(client, alice, sid)["status"] == "serving"
    config = json.loads(routes_file(settings).read_text())["http"]
    assert config["services"]["svc-web"]["weighted"]["services"] == [
        {"name": "svc-web_stable", "weight": 80}, {"name": "svc-web_canary", "weight": 20}]
    assert {"svc-web_v1", "svc-web_v2"} <= set(config["routers"])

    promoted = client.post(f"{SERVICES}/{sid}/promote", headers=alice).json()
    assert tracks(promoted) == [("stable", 2, 100, 1)]
    states = {r["unit"]: r["state"] for r in promoted["replicas"]}
    assert states == {replica["unit"]: "draining", new["unit"]: "ready"}
    config = json.loads(routes_file(settings).read_text())["http"]
    assert config["services"]["svc-web"]["weighted"]["services"] == [
        {"name": "svc-web_stable", "weight": 100}]
    assert config["services"]["svc-web_stable"]["loadBalancer"]["servers"] == [
        {"url": f"http://127.0.0.1:{fake_replicas[1].port}"}]
    assert "svc-web_v1" not in config["routers"]

    # Deleted: unrouted at once, its replicas stopped by their agent.
    assert client.delete(f"{SERVICES}/{sid}", headers=alice).status_code == 204
    assert not routes_file(settings).exists()
    stopped = {m.args[0] for m in broker.messages(TASK_STOP_UNIT)}
    assert new["unit"] in stopped
    assert client.post(PREDICT.format("web")).status_code == 404


def test_gpu_utilization_of_the_replicas_gpus_scales_a_service_up(
        client, alice, agent, app, settings, fake_replicas, monkeypatch):
    monkeypatch.setattr(rollout, "ROUTE_SETTLE", timedelta(0))
    host = agent("gpu-1", gpus=2, runtime="docker", address="127.0.0.1")
    service = create(client, alice, gpus_per_replica=1, autoscale={
        "min": 1, "max": 2, "metric": "gpu_util", "target": 50,
        "scale_down_delay_seconds": 0})
    [replica] = service["replicas"]
    [gpu] = replica["gpus"]
    running = {"unit_id": replica["unit"], "state": "running",
               "ports": {"8501": fake_replicas[0].port}}
    host.report(replica["unit"], "running", ports=running["ports"])
    serving_round(app, settings)
    serving_round(app, settings)
    assert get(client, alice, service["id"])["status"] == "serving"
    # Its GPU busy 90% of the time: 1.8 replicas' worth of the 50% target.
    host.gpus[gpu["index"]]["utilization_pct"] = 90
    assert host.heartbeat([running]).status_code == 204
    serving_round(app, settings)
    assert tracks(get(client, alice, service["id"]))[0][3] == 2
    # Idle, and no delay asked for: back to one (the starting one is not waited for).
    host.gpus[gpu["index"]]["utilization_pct"] = 5
    host.heartbeat([running])
    serving_round(app, settings)
    serving_round(app, settings)
    assert tracks(get(client, alice, service["id"]))[0][3] == 1
