"""GPU alerts: rules over the API (admin), judging them against a hand-filled ``GpuBook``,
who sees which alert, and webhooks delivered to a real HTTP server with retries.

``evaluate`` and ``deliver_due`` are called directly with explicit times (the background
loops are off: ``monitoring_seconds`` 0), so nothing here sleeps.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from dllab.config import Settings
from dllab.db.models import AlertDelivery, Host
from dllab.db.models.base import utcnow
from dllab.monitoring.book import GpuBook
from dllab.monitoring.rules import Pending
from dllab.protocol import GpuHolder, GpuSample
from dllab.services import alerts
from dllab.services.alerts import ensure_default_rules

Headers = dict[str, str]
DEFAULTS = ["gpu-allocated-idle", "gpu-ecc-errors", "gpu-hot", "gpu-memory-full",
            "gpu-xid-errors", "host-offline"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.monitoring_seconds = 0  # no background judging: the tests call evaluate
    return settings


class Receiver:
    """A webhook receiver: records each POST's JSON body and answers the statuses queued in
    ``answers`` (200 once they run out)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.answers: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(json.loads(body))
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self) -> list[str]:
        return [r["event"] for r in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def webhooks() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


class Judged(NamedTuple):
    fired: list[int]
    resolved: list[int]


NOTHING = Judged([], [])


class Lab:
    """The control plane's side of judging: its book, one ``Pending``, and a clock."""

    def __init__(self, app: FastAPI, db: sessionmaker[Session], settings: Settings):
        self.book: GpuBook = app.state.context.gpus
        self.db, self.settings, self.pending = db, settings, Pending()
        self.t0 = utcnow()

    def at(self, seconds: float) -> datetime:
        return self.t0 + timedelta(seconds=seconds)

    def put(self, host: str, seconds: float, *gpus: dict[str, Any]) -> None:
        with self.db() as session:
            host_id = session.scalar(select(Host.id).where(Host.name == host))
        assert host_id is not None
        at = self.at(seconds).timestamp()
        self.book.put(host_id, host, at, [gpu_sample(**g) for g in gpus], now=at)

    def evaluate(self, seconds: float) -> Judged:
        """The ids of the alerts that fired and resolved ``seconds`` after t0."""
        with self.db() as session:
            judgement = alerts.evaluate(session, self.settings, self.book, self.pending,
                                        now=self.at(seconds))
            return Judged([a.id for a in judgement.fired], [a.id for a in judgement.resolved])

    def deliver(self, client: httpx.Client, seconds: float) -> int:
        with self.db() as session:
            return alerts.deliver_due(session, client, now=self.at(seconds))

    def deliveries(self) -> list[AlertDelivery]:
        with self.db() as session:
            rows = session.scalars(select(AlertDelivery).order_by(AlertDelivery.id)).all()
            session.expunge_all()
            return list(rows)


def gpu_sample(index: int = 0, workload: str | None = None, owner: str | None = None,
               **readings: Any) -> GpuSample:
    holder = GpuHolder(unit="u" * 32, workload=workload, owner=owner, visible_index=0) \
        if workload else None
    return GpuSample(index=index, uuid=f"GPU-{index}", model="Test GPU",
                     memory_total_mib=16384, memory_used_mib=0, holder=holder, **readings)


@pytest.fixture
def lab(app: FastAPI, db: sessionmaker[Session], settings: Settings) -> Lab:
    return Lab(app, db, settings)


RULE = {"name": "too-hot", "metric": "temperature_c", "op": ">", "threshold": 85,
        "duration_seconds": 60, "severity": "critical"}


def add_rule(api: Any, admin: Headers, **fields: Any) -> dict[str, Any]:
    answer = api.post("/api/v1/alerts/rules", headers=admin, json={**RULE, **fields})
    assert answer.status_code == 201, answer.text
    rule: dict[str, Any] = answer.json()
    return rule


def listed(api: Any, headers: Headers, **params: Any) -> list[dict[str, Any]]:
    answer = api.get("/api/v1/alerts", headers=headers, params=params)
    assert answer.status_code == 200, answer.text
    data: list[dict[str, Any]] = answer.json()["data"]
    return data


def only_rule(api: Any, admin: Headers, keep: str) -> None:
    """Disable every rule but ``keep``, so that a test sees only its own alerts."""
    for rule in api.get("/api/v1/alerts/rules", headers=admin).json()["data"]:
        if rule["name"] != keep:
            api.patch(f"/api/v1/alerts/rules/{rule['id']}", headers=admin,
                      json={"enabled": False})


# -- rules ---------------------------------------------------------------------------------

def test_default_rules_are_made_once_and_stay_removed(api, admin, db, settings):
    rules = api.get("/api/v1/alerts/rules", headers=admin).json()
    assert [r["name"] for r in rules["data"]] == DEFAULTS and rules["count"] == 6
    hot = next(r for r in rules["data"] if r["name"] == "gpu-hot")
    assert (hot["metric"], hot["op"], hot["threshold"], hot["duration_seconds"],
            hot["severity"]) == ("temperature_c", ">", 85, 60, "critical")
    offline = next(r for r in rules["data"] if r["name"] == "host-offline")
    assert offline["threshold"] == settings.host_offline_seconds
    idle = next(r for r in rules["data"] if r["name"] == "gpu-allocated-idle")
    assert idle["allocated_only"] and idle["op"] == "<"

    assert api.delete(f"/api/v1/alerts/rules/{hot['id']}", headers=admin).status_code == 204
    with db() as session:  # what every start does
        assert ensure_default_rules(session, settings) == []
    names = [r["name"] for r in api.get("/api/v1/alerts/rules", headers=admin).json()["data"]]
    assert "gpu-hot" not in names and len(names) == 5


def test_rule_crud(api, admin):
    rule = add_rule(api, admin, host="gpu-1", webhook_url="https://hooks.example.com/x")
    assert rule["name"] == "too-hot" and rule["enabled"] and not rule["allocated_only"]
    assert rule["host"] == "gpu-1" and rule["webhook_url"] == "https://hooks.example.com/x"
    path = f"/api/v1/alerts/rules/{rule['id']}"
    assert api.get(path, headers=admin).json() == rule

    changed = api.patch(path, headers=admin, json={"threshold": 80.5, "host": None,
                                                   "webhook_url": None, "severity": "info"})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["threshold"], changed.json()["host"], changed.json()["webhook_url"],
            changed.json()["severity"], changed.json()["duration_seconds"]) == \
        (80.5, None, None, "info", 60)

    taken = api.post("/api/v1/alerts/rules", headers=admin, json={**RULE})
    assert taken.status_code == 409 and "too-hot" in taken.json()["detail"]
    renamed = api.patch(path, headers=admin, json={"name": "gpu-hot"})
    assert renamed.status_code == 409, renamed.text
    assert api.patch(path, headers=admin, json={"name": "too-hot"}).status_code == 200

    assert api.delete(path, headers=admin).status_code == 204
    assert api.get(path, headers=admin).status_code == 404
    assert api.patch(path, headers=admin, json={"enabled": False}).status_code == 404
    assert api.delete(path, headers=admin).status_code == 404


def test_rules_are_for_admins_only(api, admin, make_user):
    alice = make_user("alice")
    rule = add_rule(api, admin)
    path = f"/api/v1/alerts/rules/{rule['id']}"
    assert api.get("/api/v1/alerts/rules", headers=alice).status_code == 403
    assert api.post("/api/v1/alerts/rules", headers=alice,
                    json={**RULE, "name": "mine"}).status_code == 403
    assert api.get(path, headers=alice).status_code == 403
    assert api.patch(path, headers=alice, json={"enabled": False}).status_code == 403
    assert api.delete(path, headers=alice).status_code == 403
    assert api.get("/api/v1/alerts", headers=alice).status_code == 200
    assert api.get("/api/v1/alerts").status_code == 401


BAD_RULES = [
    ({"metric": "fan_speed"}, "metric"),
    ({"duration_seconds": -1}, "duration_seconds"),
    ({"duration_seconds": 31 * 86400}, "duration_seconds"),
    ({"webhook_url": "ftp://hooks.example.com/x"}, "webhook_url"),
    ({"webhook_url": "not a url"}, "webhook_url"),
    ({"webhook_url": ""}, "webhook_url"),
    ({"op": ">="}, "op"),
    ({"severity": "fatal"}, "severity"),
    ({"threshold": "85"}, "threshold"),
    ({"threshold": None}, "threshold"),
    ({"name": "Too_Hot"}, "name"),
    ({"host": "GPU 1"}, "host"),
    ({"allocated_only": 1}, "allocated_only"),
    ({"colour": "red"}, "colour"),
]


def test_bad_rules_are_refused_in_words(api, admin, subtests):
    rule = add_rule(api, admin, name="ok")
    for body, mentions in BAD_RULES:
        with subtests.test(json.dumps(body)):
            answer = api.post("/api/v1/alerts/rules", headers=admin, json={**RULE, **body})
            assert answer.status_code == 422, answer.text
            assert mentions in answer.json()["detail"]
            patched = api.patch(f"/api/v1/alerts/rules/{rule['id']}", headers=admin,
                                json=body)
            assert patched.status_code == 422, patched.text
            assert mentions in patched.json()["detail"]


def test_patch_refuses_null_for_fields_that_need_a_value(api, admin):
    rule = add_rule(api, admin)
    for field in ("name", "metric", "enabled", "duration_seconds"):
        answer = api.patch(f"/api/v1/alerts/rules/{rule['id']}", headers=admin,
                           json={field: None})
        assert answer.status_code == 422 and field in answer.json()["detail"], answer.text


def test_unknown_alert_and_bad_filter(api, admin):
    assert api.get("/api/v1/alerts/12345", headers=admin).status_code == 404
    assert api.get("/api/v1/alerts", headers=admin,
                   params={"state": "burning"}).status_code == 422


# -- judging and webhooks ------------------------------------------------------------------

def test_alert_fires_after_its_duration_and_resolves_with_webhooks(
        api, admin, make_user, agent, run_unit, lab, receiver, webhooks):
    alice, bob = make_user("alice"), make_user("bob")
    agent("gpu-1", gpus=2)
    unit = run_unit(alice, gpus=1, name="train")
    only_rule(api, admin, "none")
    rule = add_rule(api, admin, webhook_url=receiver.url)
    hot = {"index": 0, "workload": unit["workload"], "owner": "alice", "temperature_c": 91}
    cool = {"index": 1, "temperature_c": 60}

    lab.put("gpu-1", 0, hot, cool)
    assert lab.evaluate(0).fired == []
    lab.put("gpu-1", 30, hot, cool)
    assert lab.evaluate(30).fired == []
    lab.put("gpu-1", 60, hot, cool)
    [fired] = lab.evaluate(60).fired
    lab.put("gpu-1", 61, hot, cool)
    assert lab.evaluate(61).fired == []  # one alert while it holds

    [alert] = listed(api, admin)
    assert alert["id"] == fired and alert["state"] == "firing"
    assert (alert["rule"], alert["rule_id"], alert["metric"], alert["severity"], alert["host"],
            alert["gpu"], alert["workload"], alert["owner"], alert["value"]) == \
        ("too-hot", rule["id"], "temperature_c", "critical", "gpu-1", 0, unit["workload"],
         "alice", 91)
    assert alert["message"] == "GPU 0 of gpu-1 (held by alice) at 91 °C for 60 s (over 85)"
    assert alert["resolved_at"] is None
    assert listed(api, alice) == [alert]
    assert listed(api, bob) == []
    assert api.get(f"/api/v1/alerts/{fired}", headers=alice).json() == alert
    assert api.get(f"/api/v1/alerts/{fired}", headers=bob).status_code == 404

    assert lab.deliver(webhooks, 61) == 1
    [firing] = receiver.received
    assert firing["event"] == "firing"
    assert firing["alert"]["id"] == fired and firing["alert"]["state"] == "firing"
    assert firing["alert"]["message"] == alert["message"]
    assert lab.deliver(webhooks, 62) == 0  # delivered once

    lab.put("gpu-1", 70, {**hot, "temperature_c": 80}, cool)
    assert lab.evaluate(70).resolved == [fired]
    resolved = api.get(f"/api/v1/alerts/{fired}", headers=alice).json()
    assert resolved["state"] == "resolved" and resolved["resolved_at"] is not None
    assert resolved["message"].endswith("; resolved: now 80 °C")
    assert lab.deliver(webhooks, 70) == 1
    assert receiver.events() == ["firing", "resolved"]
    assert receiver.received[1]["alert"]["state"] == "resolved"
    deliveries = api.get(f"/api/v1/alerts/{fired}", headers=admin).json()["deliveries"]
    assert [(d["event"], d["attempts"], d["last_error"]) for d in deliveries] == \
        [("firing", 1, None), ("resolved", 1, None)]
    assert all(d["delivered_at"] for d in deliveries)

    # Hot again: a new alert, after the duration again.
    lab.put("gpu-1", 80, hot, cool)
    assert lab.evaluate(80).fired == []
    lab.put("gpu-1", 140, hot, cool)
    assert len(lab.evaluate(140).fired) == 1
    assert [a["state"] for a in listed(api, admin)] == ["firing", "resolved"]  # newest first
    assert [a["state"] for a in listed(api, admin, state="firing")] == ["firing"]
    assert [a["id"] for a in listed(api, admin, state="resolved")] == [fired]
    page = api.get("/api/v1/alerts", headers=admin, params={"limit": 1, "offset": 1}).json()
    assert page["count"] == 2 and [a["id"] for a in page["data"]] == [fired]


def test_webhook_retried_after_a_500_then_given_up_after_six_tries(
        api, admin, agent, lab, receiver, webhooks):
    agent("gpu-1", gpus=1)
    only_rule(api, admin, "none")
    add_rule(api, admin, duration_seconds=0, webhook_url=receiver.url)
    receiver.answers = [500]
    lab.put("gpu-1", 0, {"temperature_c": 90})
    assert len(lab.evaluate(0).fired) == 1

    assert lab.deliver(webhooks, 0) == 0
    [owed] = lab.deliveries()
    assert (owed.attempts, owed.delivered_at) == (1, None)
    assert owed.last_error is not None and owed.last_error.startswith("HTTP 500")
    assert owed.next_at == lab.at(2)
    assert lab.deliver(webhooks, 1) == 0 and len(receiver.received) == 1  # not yet due
    # Resolved meanwhile: its webhook waits for the firing's.
    lab.put("gpu-1", 1.5, {"temperature_c": 50})
    assert len(lab.evaluate(1.5).resolved) == 1
    assert lab.deliver(webhooks, 1.5) == 0 and len(receiver.received) == 1
    assert lab.deliver(webhooks, 2) == 2
    assert receiver.events() == ["firing", "firing", "resolved"]
    firing, resolved = lab.deliveries()
    assert (firing.attempts, firing.last_error, firing.next_at) == (2, None, None)
    assert firing.delivered_at == lab.at(2) and resolved.delivered_at == lab.at(2)

    # A receiver that never says yes: tried at 0, 2, 6, 14, 30, 62 s, then given up.
    receiver.received.clear()
    receiver.answers = [503] * 10
    lab.put("gpu-1", 100, {"temperature_c": 95})
    [second] = lab.evaluate(100).fired
    tried = []
    for t in range(100, 300):
        if lab.deliver(webhooks, t) == 0 and len(receiver.received) > len(tried):
            tried.append(t - 100)
    assert tried == [0, 2, 6, 14, 30, 62]
    owed = lab.deliveries()[-1]
    assert (owed.alert_id, owed.attempts, owed.next_at, owed.delivered_at) == \
        (second, 6, None, None)
    assert owed.last_error is not None and "503" in owed.last_error
    shown = api.get(f"/api/v1/alerts/{second}", headers=admin).json()["deliveries"]
    assert shown == [{"event": "firing", "attempts": 6, "delivered_at": None,
                      "next_at": None, "last_error": owed.last_error}]


def test_unreachable_webhook_is_an_error_in_words(api, admin, agent, lab, webhooks):
    agent("gpu-1", gpus=1)
    only_rule(api, admin, "none")
    add_rule(api, admin, duration_seconds=0, webhook_url="http://127.0.0.1:9/nobody")
    lab.put("gpu-1", 0, {"temperature_c": 90})
    lab.evaluate(0)
    assert lab.deliver(webhooks, 0) == 0
    [owed] = lab.deliveries()
    assert owed.attempts == 1 and owed.next_at == lab.at(2)
    assert owed.last_error and "Connect" in owed.last_error


def test_silent_host_is_not_judged_and_keeps_its_alerts(api, admin, agent, lab):
    agent("gpu-1", gpus=1)
    only_rule(api, admin, "none")
    add_rule(api, admin, duration_seconds=10)
    lab.put("gpu-1", 0, {"temperature_c": 90})
    lab.evaluate(0)
    lab.put("gpu-1", 10, {"temperature_c": 90})
    [fired] = lab.evaluate(10).fired
    # No fresh reading: nothing is judged, the alert stays open.
    assert lab.evaluate(25) == NOTHING
    assert listed(api, admin)[0]["state"] == "firing"
    # Back, still hot: the same alert; then cool: it resolves.
    lab.put("gpu-1", 30, {"temperature_c": 90})
    assert lab.evaluate(30) == NOTHING
    lab.put("gpu-1", 31, {"temperature_c": 40})
    assert lab.evaluate(31).resolved == [fired]


def test_condition_must_hold_in_readings_one_after_another(api, admin, agent, lab):
    agent("gpu-1", gpus=1)
    only_rule(api, admin, "none")
    add_rule(api, admin, duration_seconds=10)
    lab.put("gpu-1", 0, {"temperature_c": 90})
    lab.evaluate(0)
    lab.evaluate(8)  # no fresh reading at 8 s: the count starts again
    lab.put("gpu-1", 10, {"temperature_c": 90})
    assert lab.evaluate(10).fired == []
    lab.put("gpu-1", 20, {"temperature_c": 90})
    assert len(lab.evaluate(20).fired) == 1


def test_gpu_without_the_reading_is_not_judged_and_others_are(api, admin, agent, lab):
    agent("gpu-1", gpus=2)
    only_rule(api, admin, "none")
    add_rule(api, admin, duration_seconds=0, host="gpu-1")
    add_rule(api, admin, name="elsewhere", duration_seconds=0, host="gpu-9")
    lab.put("gpu-1", 0, {"index": 0}, {"index": 1, "temperature_c": 99})
    [fired] = lab.evaluate(0).fired
    [alert] = listed(api, admin)
    assert (alert["id"], alert["gpu"], alert["rule"], alert["workload"], alert["owner"]) == \
        (fired, 1, "too-hot", None, None)
    # A GPU gone from its host's readings resolves.
    lab.put("gpu-1", 1, {"index": 0})
    assert lab.evaluate(1).resolved == [fired]
    assert listed(api, admin)[0]["message"].endswith("resolved: the GPU is no longer reported")


def test_allocated_only_rule_judges_held_gpus_and_names_their_owner(
        api, admin, make_user, agent, run_unit, lab):
    alice = make_user("alice")
    agent("gpu-1", gpus=2)
    unit = run_unit(alice, gpus=1, name="notebook")
    only_rule(api, admin, "gpu-allocated-idle")
    held = {"index": 0, "workload": unit["workload"], "owner": "alice", "utilization_pct": 0}
    free = {"index": 1, "utilization_pct": 0}
    lab.put("gpu-1", 0, held, free)
    lab.evaluate(0)
    lab.put("gpu-1", 1799, held, free)
    assert lab.evaluate(1799).fired == []
    lab.put("gpu-1", 1800, held, free)
    [fired] = lab.evaluate(1800).fired
    [alert] = listed(api, alice)
    assert (alert["id"], alert["gpu"], alert["owner"], alert["severity"]) == \
        (fired, 0, "alice", "warning")
    assert alert["message"] == ("GPU 0 of gpu-1 (held by alice) at 0% utilization for "
                                "1800 s (under 5)")
    # Released: it resolves, though the GPU is as idle as ever.
    lab.put("gpu-1", 1801, {"index": 0, "utilization_pct": 0}, free)
    assert lab.evaluate(1801).resolved == [fired]
    assert listed(api, alice)[0]["message"].endswith("resolved: the GPU was released")


def test_host_offline_fires_while_silent_and_resolves_when_heard_from(
        api, admin, agent, lab, db, settings):
    gpu1 = agent("gpu-1", gpus=1)
    agent("gpu-2", gpus=1)
    only_rule(api, admin, "host-offline")
    with db() as session:  # gpu-1 last heard from 45 s ago
        session.execute(update(Host).where(Host.name == "gpu-1").values(
            last_seen_at=lab.at(-45)))
        session.commit()
    judged = lab.evaluate(0)
    assert len(judged.fired) == 1
    [alert] = listed(api, admin)
    assert (alert["host"], alert["gpu"], alert["metric"], alert["owner"]) == \
        ("gpu-1", None, "host_silent_seconds", None)
    assert alert["message"] == \
        f"gpu-1 silent for 45 s (over {settings.host_offline_seconds:.0f})"
    assert lab.evaluate(1).fired == []
    assert gpu1.heartbeat().status_code == 204
    assert lab.evaluate(1).resolved == judged.fired
    assert listed(api, admin)[0]["message"].endswith("resolved: heard from again")


def test_disabling_editing_and_removing_a_rule_resolve_its_alerts(
        api, admin, agent, lab, receiver, webhooks):
    agent("gpu-1", gpus=1)
    agent("gpu-2", gpus=1)
    only_rule(api, admin, "none")
    rule = add_rule(api, admin, duration_seconds=0, webhook_url=receiver.url)
    path = f"/api/v1/alerts/rules/{rule['id']}"

    def fire(t: float) -> int:
        lab.put("gpu-1", t, {"temperature_c": 99})
        [fired] = lab.evaluate(t).fired
        return int(fired)

    first = fire(0)
    assert api.patch(path, headers=admin, json={"enabled": False}).status_code == 200
    assert api.get(f"/api/v1/alerts/{first}", headers=admin).json()["state"] == "resolved"
    assert api.patch(path, headers=admin, json={"enabled": True}).status_code == 200

    second = fire(1)
    api.patch(path, headers=admin, json={"host": "gpu-2"})
    second_now = api.get(f"/api/v1/alerts/{second}", headers=admin).json()
    assert second_now["state"] == "resolved"
    assert second_now["message"].endswith("resolved: its rule now watches gpu-2 only")
    api.patch(path, headers=admin, json={"host": None})

    third = fire(2)
    api.patch(path, headers=admin, json={"threshold": 100})  # judged on the next round
    assert api.get(f"/api/v1/alerts/{third}", headers=admin).json()["state"] == "firing"
    lab.put("gpu-1", 3, {"temperature_c": 99})
    assert lab.evaluate(3).resolved == [third]
    api.patch(path, headers=admin, json={"threshold": 85})

    fourth = fire(4)
    assert api.delete(path, headers=admin).status_code == 204
    gone = api.get(f"/api/v1/alerts/{fourth}", headers=admin).json()
    assert (gone["state"], gone["rule"], gone["rule_id"]) == ("resolved", "too-hot", None)
    assert gone["message"].endswith("resolved: its rule was removed")
    assert lab.evaluate(5) == NOTHING

    while lab.deliver(webhooks, 600):  # resolved by requests: owed at the real time
        pass
    assert receiver.events() == ["firing", "resolved"] * 4
    assert [r["alert"]["id"] for r in receiver.received] == \
        [first, first, second, second, third, third, fourth, fourth]


def test_an_alert_of_a_removed_host_resolves(api, admin, agent, lab):
    agent("gpu-1", gpus=1)
    only_rule(api, admin, "none")
    add_rule(api, admin, duration_seconds=0)
    lab.put("gpu-1", 0, {"temperature_c": 99})
    [fired] = lab.evaluate(0).fired
    host_id = api.get("/api/v1/hosts", headers=admin).json()["data"][0]["id"]
    assert api.delete(f"/api/v1/hosts/{host_id}", headers=admin).status_code == 204
    assert lab.evaluate(1).resolved == [fired]


@pytest.fixture
def logged_in(dllab: Callable[..., str], live_server: str, admin_password: str) -> None:
    dllab("login", "--server", live_server, "--username", "admin", "--password",
          admin_password)


def test_cli_alerts_and_rules(dllab, logged_in, api, admin, agent, lab):
    for command in (["alerts"], ["alerts", "list"], ["alerts", "rules"],
                    ["alerts", "rule-add"], ["alerts", "rule-set"], ["alerts", "rule-rm"]):
        assert "Usage: " in dllab(*command, "--help")
    rules = dllab("alerts", "rules")
    assert all(name in rules for name in DEFAULTS)
    assert "temperature_c > 85 for 60 s" in rules

    out = dllab("alerts", "rule-add", "too-hot", "--metric", "temperature_c", "--op", ">",
                "--threshold", "80", "--for", "0", "--severity", "critical", "--host", "gpu-1",
                "--webhook", "https://hooks.example.com/x")
    assert "Alert rule too-hot added" in out
    assert "metric" in dllab("alerts", "rule-add", "bad", "--metric", "fan", "--op", ">",
                             "--threshold", "1", ok=False)
    assert "409" in dllab("alerts", "rule-add", "too-hot", "--metric", "power_w", "--op", "<",
                          "--threshold", "1", ok=False)
    assert "too-hot" in dllab("alerts", "rule-set", "too-hot", "--threshold", "82",
                              "--all-hosts", "--disable")
    rule = next(r for r in api.get("/api/v1/alerts/rules", headers=admin).json()["data"]
                if r["name"] == "too-hot")
    assert (rule["threshold"], rule["host"], rule["enabled"], rule["webhook_url"]) == \
        (82, None, False, "https://hooks.example.com/x")
    dllab("alerts", "rule-set", str(rule["id"]), "--enable", "--no-webhook")
    only_rule(api, admin, "too-hot")

    assert "(none)" in dllab("alerts", "list")
    agent("gpu-1", gpus=1)
    lab.put("gpu-1", 0, {"temperature_c": 90})
    lab.evaluate(0)
    out = dllab("alerts", "list", "--firing")
    assert "too-hot" in out and "GPU 0 of gpu-1 at 90 °C (over 82)" in out
    assert "firing" in dllab("alerts")
    lab.put("gpu-1", 1, {"temperature_c": 70})
    lab.evaluate(1)
    assert "(none)" in dllab("alerts", "list", "--firing")
    assert "resolved" in dllab("alerts", "list")

    assert "removed" in dllab("alerts", "rule-rm", "too-hot")
    assert "no alert rule" in dllab("alerts", "rule-rm", "too-hot", ok=False)
