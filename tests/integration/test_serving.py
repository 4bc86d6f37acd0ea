"""Prediction services on the whole platform (``dllab up`` with a docker agent): the digits
model exported twice by TensorFlow (v1, v2) and registered by upload, served by dllab-serve
replicas behind the edge proxy (Traefik), under a steady stream of requests:

- predictions through the load balancer are right;
- a replica killed mid-stream fails no request (Traefik retries the ones it had not
  answered on another replica, and its health check takes the dead one out);
- v1 -> v2 rolls replica by replica with 0 failed requests out of more than 1,000;
- a 90/10 canary split sends 10% +- 3% to the canary, then promote and rollback;
- load drives the autoscaler up, and when it stops, back down.
"""

from __future__ import annotations

import io
import json
import tarfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from lab_fixture import RUNTIME_IMAGE, Lab, eventually, running_lab

pytestmark = pytest.mark.docker

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MODEL = "digits"


@pytest.fixture(scope="module")
def exported(docker_client: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """digits v1 and v2 (trained longer: other weights), and 100 test digits with labels."""
    out = tmp_path_factory.mktemp("digits")
    out.chmod(0o777)
    script = ("set -e; python /examples/digits_export.py /out --version 1 --epochs 3; "
              "python /examples/digits_export.py /out --version 2 --epochs 8; "
              "python -c \"import json; from sklearn.datasets import load_digits; "
              "d = load_digits(); json.dump({'x': (d.data[-100:] / 16).tolist(), "
              "'y': d.target[-100:].tolist()}, open('/out/samples.json', 'w'))\"")
    docker_client.containers.run(RUNTIME_IMAGE, ["bash", "-c", script], remove=True,
                                 volumes={str(EXAMPLES): {"bind": "/examples", "mode": "ro"},
                                          str(out): {"bind": "/out", "mode": "rw"}})
    return out


@pytest.fixture(scope="module")
def serving_lab(docker_client: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(docker_client, tmp_path_factory.mktemp("serving-lab"),
                     HEARTBEAT_SECONDS="1") as lab:
        yield lab


@pytest.fixture(scope="module")
def user(serving_lab: Lab) -> httpx.Client:
    return serving_lab.add_user("server")


@pytest.fixture(scope="module")
def model(user: httpx.Client, exported: Path) -> dict[str, Any]:
    created = user.post("/api/v1/models", json={"name": MODEL, "description": "8x8 digits"})
    assert created.status_code == 201, created.text
    for version in (1, 2):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            tar.add(exported / str(version), arcname=".")
        answer = user.post(f"/api/v1/models/{created.json()['id']}/versions/upload",
                           content=buffer.getvalue())
        assert answer.status_code == 201, answer.text
        assert answer.json()["version"] == version
        inputs = answer.json()["signatures"]["serving_default"]["inputs"]
        assert inputs == {"pixels": {"dtype": "float32", "shape": [-1, 64],
                                     "tensor": "serving_default_pixels:0"}}
    return created.json()


def service_of(user: httpx.Client, service_id: str) -> dict[str, Any]:
    answer = user.get(f"/api/v1/services/{service_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def wait_serving(user: httpx.Client, service_id: str, timeout: float = 180,
                 **expect: Any) -> dict[str, Any]:
    """Until it serves with every wanted replica, each on the version its track wants."""
    def serving() -> dict[str, Any] | None:
        service = service_of(user, service_id)
        assert service["status"] != "failing", service
        if service["status"] != "serving":
            return None
        ready = [r for r in service["replicas"] if r["state"] == "ready"]
        if any(service.get(k) != v for k, v in expect.items()) or \
                len(ready) != sum(t["replicas"] for t in service["tracks"]):
            return None
        return service
    return eventually(serving, f"service {service_id} serving {expect}", timeout)


@dataclass
class Load:
    """Threads that each send predict requests one after the other, as a product would."""

    url: str
    body: dict[str, Any]
    threads: int = 4
    results: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[float, str]] = field(default_factory=list)  # (monotonic time, why)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> Load:
        for _ in range(self.threads):
            worker = threading.Thread(target=self._run, daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(30)

    @property
    def sent(self) -> int:
        return sum(self.results.values())

    def _run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                try:
                    answer = client.post(self.url, json=self.body)
                    ok = answer.status_code == 200 and "predictions" in answer.json()
                    self.results["ok" if ok else str(answer.status_code)] += 1
                    if not ok:
                        self.failures.append((time.monotonic(), answer.text[:300]))
                except httpx.HTTPError as exc:
                    self.results["error"] += 1
                    self.failures.append((time.monotonic(), repr(exc)))


def samples(exported: Path) -> tuple[list[list[float]], list[int]]:
    data = json.loads((exported / "samples.json").read_text())
    return data["x"], data["y"]


def versions_answering(edge_url: str, count: int) -> Counter[str]:
    """Which version answers the model's status (GET), over ``count`` requests: the
    weighted route shares these as it shares predictions."""
    seen: Counter[str] = Counter()
    with httpx.Client(timeout=30) as client:
        for _ in range(count):
            answer = client.get(edge_url)
            assert answer.status_code == 200, answer.text
            seen[answer.json()["model_version_status"][0]["version"]] += 1
    return seen


def test_two_replicas_predict_survive_a_kill_and_roll_to_v2_under_load(
        serving_lab: Lab, user: httpx.Client, model: dict[str, Any], exported: Path,
        docker_client: Any) -> None:
    created = user.post("/api/v1/services", json={
        "name": "digits", "model": MODEL, "version": 1, "replicas": 2})
    assert created.status_code == 201, created.text
    service_id = created.json()["id"]
    url = created.json()["url"]
    assert url == f"{serving_lab.edge}/serving/digits/v1/models/{MODEL}"
    wait_serving(user, service_id)

    x, y = samples(exported)
    answer = httpx.post(f"{url}:predict", json={"instances": x}, timeout=30)
    assert answer.status_code == 200, answer.text
    predictions = answer.json()["predictions"]
    assert len(predictions) == len(y)
    right = sum(p["digit"] == label for p, label in zip(predictions, y, strict=True))
    assert right >= 85, f"{right} of 100 digits right"
    columnar = httpx.post(f"{url}:predict", json={"inputs": {"pixels": x[:3]}}, timeout=30)
    assert columnar.json()["outputs"]["digit"] == [p["digit"] for p in predictions[:3]]

    body = {"instances": x[:4]}
    with Load(f"{url}:predict", body) as load:
        eventually(lambda: load.sent >= 200, "200 requests answered", timeout=60)
        victim = service_of(user, service_id)["replicas"][0]
        [container] = docker_client.containers.list(
            filters={"label": f"dllab.unit={victim['unit']}"})
        container.kill()
        killed_at, sent_at_kill = time.monotonic(), load.sent
        # Replaced: a new replica serves, beside the survivor.
        wait_serving(user, service_id)
        eventually(lambda: load.sent >= sent_at_kill + 300, "300 more requests", timeout=60)
    # What the killed replica had accepted is lost with it (502), and so is what reached it
    # before the edge proxy's health check (every 0.5 s) took it out; nothing after that.
    late = [(round(t - killed_at, 2), why) for t, why in load.failures if t > killed_at + 2]
    assert not late, late
    assert len(load.failures) <= 50, load.results
    assert load.results["ok"] >= sent_at_kill + 300 - len(load.failures)
    assert victim["id"] not in [r["id"] for r in service_of(user, service_id)["replicas"]
                                if r["state"] == "ready"]

    with Load(f"{url}:predict", body) as load:
        eventually(lambda: load.sent >= 100, "100 requests answered", timeout=60)
        rolled = user.patch(f"/api/v1/services/{service_id}", json={"version": 2})
        assert rolled.status_code == 200, rolled.text
        assert rolled.json()["status"] == "updating"
        wait_serving(user, service_id, timeout=240)
        eventually(lambda: load.sent >= 1000, "1,000 requests during the roll", timeout=120)
    assert load.results == Counter(ok=load.sent), (load.results, load.failures[:5])
    assert load.sent >= 1000
    ready = [r for r in service_of(user, service_id)["replicas"] if r["state"] == "ready"]
    assert [r["version"] for r in ready] == [2, 2]
    assert versions_answering(url, 20) == Counter({"2": 20})


def test_a_canary_gets_its_share_then_is_promoted_or_rolled_back(
        serving_lab: Lab, user: httpx.Client, model: dict[str, Any]) -> None:
    created = user.post("/api/v1/services", json={
        "name": "digits-canary", "model": MODEL, "version": 1, "replicas": 1})
    assert created.status_code == 201, created.text
    service_id, url = created.json()["id"], created.json()["url"]
    wait_serving(user, service_id)
    canary = user.post(f"/api/v1/services/{service_id}/canary",
                       json={"version": 2, "weight": 10, "replicas": 1})
    assert canary.status_code == 200, canary.text
    assert [(t["name"], t["version"], t["weight"]) for t in canary.json()["tracks"]] == [
        ("stable", 1, 90), ("canary", 2, 10)]
    wait_serving(user, service_id)

    seen = versions_answering(url, 2000)
    assert 0.07 <= seen["2"] / 2000 <= 0.13, seen
    # A version's own URL reaches its replicas only; a label's, the version it points at.
    for _ in range(20):
        answer = httpx.get(f"{url}/versions/2", timeout=30).json()
        assert answer["model_version_status"][0]["version"] == "2"
    labelled = user.put(f"/api/v1/models/{model['id']}/labels/stable", json={"version": 1})
    assert labelled.status_code == 200, labelled.text

    def label_routed() -> bool:
        answer = httpx.get(f"{url}/labels/stable", timeout=30)
        return answer.status_code == 200 and \
            answer.json()["model_version_status"][0]["version"] == "1"
    eventually(label_routed, "the stable label routed to version 1", timeout=30)
    missing = httpx.get(f"{url}/versions/7", timeout=30)
    assert missing.status_code == 404 and "error" in missing.json()

    back = user.post(f"/api/v1/services/{service_id}/rollback")
    assert back.status_code == 200, back.text
    wait_serving(user, service_id)
    assert versions_answering(url, 50) == Counter({"1": 50})

    user.post(f"/api/v1/services/{service_id}/canary", json={"version": 2, "weight": 50})
    wait_serving(user, service_id)
    promoted = user.post(f"/api/v1/services/{service_id}/promote")
    assert promoted.status_code == 200, promoted.text
    assert [(t["name"], t["version"]) for t in promoted.json()["tracks"]] == [("stable", 2)]
    wait_serving(user, service_id)
    assert versions_answering(url, 50) == Counter({"2": 50})
    assert user.delete(f"/api/v1/services/{service_id}").status_code == 204


def test_load_scales_a_service_up_and_its_end_back_down(
        serving_lab: Lab, user: httpx.Client, model: dict[str, Any], exported: Path) -> None:
    created = user.post("/api/v1/services", json={
        "name": "digits-auto", "model": MODEL, "replicas": 1,
        "autoscale": {"min": 1, "max": 3, "metric": "inflight", "target": 1,
                      "scale_down_delay_seconds": 5}})
    assert created.status_code == 201, created.text
    service_id, url = created.json()["id"], created.json()["url"]
    wait_serving(user, service_id)
    x, _ = samples(exported)

    def stable_wanted() -> int:
        return int(service_of(user, service_id)["tracks"][0]["replicas"])

    with Load(f"{url}:predict", {"instances": x}, threads=12) as load:
        eventually(lambda: stable_wanted() >= 2, "scaled up under load", timeout=120)
        wait_serving(user, service_id, timeout=180)
    assert load.results == Counter(ok=load.sent), (load.results, load.failures[:5])
    eventually(lambda: stable_wanted() == 1, "scaled back down once the load stopped",
               timeout=120)
    wait_serving(user, service_id)
    assert user.delete(f"/api/v1/services/{service_id}").status_code == 204


def test_wrong_token_unknown_service_and_no_ready_replica_answer_in_tf_serving_shape(
        serving_lab: Lab, user: httpx.Client, model: dict[str, Any], exported: Path) -> None:
    created = user.post("/api/v1/services", json={
        "name": "digits-private", "model": MODEL, "token": True})
    assert created.status_code == 201, created.text
    service, token = created.json(), created.json()["token"]
    early = httpx.post(f"{service['url']}:predict", json={"instances": []},
                       headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert early.status_code in (200, 400, 503), early.text  # 503 until a replica serves
    wait_serving(user, service["id"])
    x, _ = samples(exported)
    allowed = httpx.post(f"{service['url']}:predict", json={"instances": x[:1]},
                         headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert allowed.status_code == 200, allowed.text
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        refused = httpx.post(f"{service['url']}:predict", json={"instances": x[:1]},
                             headers=headers, timeout=30)
        assert refused.status_code == 401, refused.text
        assert "access token" in refused.json()["error"]
    unknown = httpx.post(f"{serving_lab.edge}/serving/nope/v1/models/{MODEL}:predict",
                         json={"instances": x[:1]}, timeout=30)
    assert unknown.status_code == 404 and "nope" in unknown.json()["error"]
    bad = httpx.post(f"{service['url']}:predict", json={"instances": [[1.0, 2.0]]},
                     headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert bad.status_code == 400 and "error" in bad.json()
    assert user.delete(f"/api/v1/services/{service['id']}").status_code == 204

    def unrouted() -> bool:  # its routes went with it
        return httpx.post(f"{service['url']}:predict", json={"instances": x[:1]},
                          headers={"Authorization": f"Bearer {token}"},
                          timeout=30).status_code == 404
    eventually(unrouted, "the deleted service answers 404", timeout=10)
