"""The scheduler through the API, with the hosts' agents played by the test: the queue with
positions and reasons, queued work starting as GPUs free, priorities, quotas, the head's
reservation surviving a restart, the lock between passes, dead hosts and the lost-unit
policies, and the cluster and queue views."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from dllab.db.models import Host, LostPolicy, Unit, User
from dllab.main import create_app
from dllab.protocol import TASK_START_UNIT, TASK_STOP_UNIT, UnitSpec
from dllab.services import scheduling, workloads
from dllab.services.outcomes import declare_dead_hosts
from dllab.services.workloads import UnitTemplate

UNITS = "/api/v1/units"


def get(client, headers, unit_id: str) -> dict:
    answer = client.get(f"{UNITS}/{unit_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def submit(client, headers, gpus: int, name: str = "work", **fields) -> dict:
    answer = client.post(UNITS, headers=headers, json={
        "name": name, "command": ["python", "train.py"], "gpus": gpus, **fields})
    assert answer.status_code == 201, answer.text
    return answer.json()


def started(broker) -> list[str]:
    return [m.args[0]["unit_id"] for m in broker.messages(TASK_START_UNIT)]


def silence(db, host: str, seconds: float) -> None:
    with db() as session:
        session.execute(update(Host).where(Host.name == host).values(
            last_seen_at=datetime.now(UTC) - timedelta(seconds=seconds)))
        session.commit()


def user_id(client, admin, username: str) -> int:
    users = client.get("/api/v1/users", headers=admin).json()["data"]
    return next(u["id"] for u in users if u["username"] == username)


def test_work_that_does_not_fit_waits_with_its_position_and_reason(client, admin, agent,
                                                                   broker):
    agent("gpu-1", gpus=4)
    agent("gpu-2", gpus=2)
    big = submit(client, admin, 3, "big")
    assert (big["state"], big["host"]) == ("starting", "gpu-1")
    four = submit(client, admin, 4, "four")
    assert (four["state"], four["position"], four["host"], four["gpus"]) == \
        ("queued", 1, None, [])
    assert four["reason"] == "needs 4 GPUs on one host; largest free block is 2"
    assert four["gpu_count"] == 4
    nine = submit(client, admin, 9, "nine")
    assert (nine["state"], nine["position"]) == ("queued", 2)
    assert nine["reason"] == "needs 9 GPUs on one host; largest host has 4"
    assert started(broker) == [big["id"]]


def test_queued_work_starts_when_gpus_free(client, admin, agent, broker):
    host = agent("gpu-1", gpus=4)
    first = submit(client, admin, 4, "first")
    second = submit(client, admin, 2, "second")
    third = submit(client, admin, 2, "third")
    assert [get(client, admin, u["id"])["state"] for u in (second, third)] == ["queued"] * 2
    host.report(first["id"], "running")
    assert get(client, admin, second["id"])["state"] == "queued"  # running frees nothing
    assert host.report(first["id"], "exited", exit_code=0).status_code == 204
    placed = [get(client, admin, u["id"]) for u in (second, third)]
    assert [u["state"] for u in placed] == ["starting", "starting"]
    assert sorted(g["index"] for u in placed for g in u["gpus"]) == [0, 1, 2, 3]
    assert [u["position"] for u in placed] == [None, None]
    # The broker's file names keep the order to the millisecond only, and one pass sends
    # both within the same one.
    assert started(broker)[0] == first["id"]
    assert sorted(started(broker)[1:]) == sorted([second["id"], third["id"]])


def test_priority_goes_first_and_only_admins_raise_it(client, admin, agent, make_user,
                                                      broker):
    host = agent("gpu-1", gpus=2)
    alice = make_user("alice")
    running = submit(client, admin, 2, "running")
    low = submit(client, alice, 2, "low", priority=-5)
    normal = submit(client, alice, 2, "normal")
    urgent = submit(client, admin, 2, "urgent", priority=10)
    positions = {u["name"]: get(client, admin, u["id"])["position"]
                 for u in (low, normal, urgent)}
    assert positions == {"urgent": 1, "normal": 2, "low": 3}
    refused = client.post(UNITS, headers=alice, json={
        "name": "mine-first", "command": ["x"], "gpus": 1, "priority": 1})
    assert (refused.status_code, refused.json()["reason"]) == (403, "priority")
    host.report(running["id"], "exited", exit_code=0)
    assert get(client, admin, urgent["id"])["state"] == "starting"
    assert get(client, admin, normal["id"])["position"] == 1


def test_quota_keeps_work_queued_until_raised(client, admin, agent, make_user):
    agent("gpu-1", gpus=8)
    bob = make_user("bob")
    bob_id = user_id(client, admin, "bob")
    answer = client.patch(f"/api/v1/users/{bob_id}", headers=admin, json={"gpu_quota": 2})
    assert (answer.status_code, answer.json()["gpu_quota"]) == (200, 2)
    assert submit(client, bob, 2, "a")["state"] == "starting"
    waiting = submit(client, bob, 1, "b")
    assert (waiting["state"], waiting["reason"]) == ("queued", "quota: 2 GPUs, 2 in use")
    too_big = submit(client, bob, 3, "c")
    assert too_big["reason"] == "quota: 2 GPUs; needs 3 at once"
    assert submit(client, admin, 4, "admin-work")["state"] == "starting"  # others go on
    assert submit(client, bob, 0, "cpu-only")["state"] == "starting"  # no GPU, no quota
    client.patch(f"/api/v1/users/{bob_id}", headers=admin, json={"gpu_quota": None})
    assert get(client, bob, waiting["id"])["state"] == "starting"
    assert get(client, bob, too_big["id"])["state"] == "queued"  # 2 + 1 + 3 > 4 free
    assert get(client, bob, too_big["id"])["reason"] == \
        "needs 3 GPUs on one host; largest free block is 1"


def test_only_admins_set_quotas(client, admin, make_user):
    carol = make_user("carol")
    carol_id = user_id(client, admin, "carol")
    answer = client.patch(f"/api/v1/users/{carol_id}", headers=carol, json={"gpu_quota": 100})
    assert answer.status_code == 403
    bad = client.patch(f"/api/v1/users/{carol_id}", headers=admin, json={"gpu_quota": -1})
    assert bad.status_code == 422 and "gpu_quota" in bad.json()["detail"]
    unknown = client.patch("/api/v1/users/9999", headers=admin, json={"gpu_quota": 1})
    assert (unknown.status_code, unknown.json()["reason"]) == (404, "user_not_found")


def test_stopping_queued_work_takes_it_out_of_the_queue(client, admin, agent, broker):
    agent("gpu-1", gpus=1)
    submit(client, admin, 1, "holder")
    first = submit(client, admin, 1, "first")
    second = submit(client, admin, 1, "second")
    answer = client.post(f"{UNITS}/{first['id']}/stop", headers=admin)
    assert answer.status_code == 200
    assert (answer.json()["state"], answer.json()["position"]) == ("stopped", None)
    assert get(client, admin, second["id"])["position"] == 1
    assert broker.messages(TASK_STOP_UNIT) == []  # it was never anywhere


def test_head_of_the_queue_keeps_its_reservation_across_a_restart(client, admin, agent,
                                                                  settings, broker):
    host = agent("gpu-1", gpus=4)
    small = submit(client, admin, 2, "small")
    also = submit(client, admin, 1, "also")
    head = submit(client, admin, 4, "head")
    queue = client.get("/api/v1/queue", headers=admin).json()
    assert [(e["name"], e["position"], e["reserved_hosts"]) for e in queue["data"]] == \
        [("head", 1, ["gpu-1"])]
    # One GPU is free, but it is the head's: work behind it may not take it.
    behind = submit(client, admin, 1, "behind")
    assert behind["state"] == "queued"
    assert behind["reason"] == ("needs 1 GPU on one host; largest free block is 0 "
                                "(more are held for position 1)")

    # A new control plane on the same database sees the same queue and reservation.
    with TestClient(create_app(settings)) as restarted:
        again = restarted.get("/api/v1/queue", headers=admin).json()["data"]
        assert [(e["name"], e["position"], e["reserved_hosts"]) for e in again] == \
            [("head", 1, ["gpu-1"]), ("behind", 2, [])]
        host.client = restarted
        host.report(small["id"], "exited", exit_code=0)
        assert get(restarted, admin, behind["id"])["state"] == "queued"
        host.report(also["id"], "exited", exit_code=0)
        assert get(restarted, admin, head["id"])["state"] == "starting"
        assert get(restarted, admin, behind["id"])["position"] == 1
    assert started(broker) == [small["id"], also["id"], head["id"]]


def test_passes_wait_for_each_other(client, admin, agent, app, db, settings):
    """A pass blocks while another holds the scheduler's lock (an advisory lock on
    PostgreSQL, a lock in the process on SQLite), so two can never book one GPU."""
    agent("gpu-1", gpus=1)
    submit(client, admin, 1, "holder")
    waiting = submit(client, admin, 1, "waiting")
    done = threading.Event()
    dispatcher = app.state.context.dispatcher
    with db() as holding, scheduling.exclusive(holding):
        # Free the GPU inside the locked transaction, not yet committed.
        holding.execute(update(Unit).where(Unit.name == "holder").values(state="exited"))

        def other_pass() -> None:
            with db() as session:
                scheduling.run_pass(session, settings, dispatcher)
            done.set()

        thread = threading.Thread(target=other_pass)
        thread.start()
        time.sleep(0.5)
        assert not done.is_set(), "a second pass ran while the first held the lock"
        holding.commit()
    thread.join(10)
    assert done.is_set()
    assert get(client, admin, waiting["id"])["state"] == "starting"


def test_an_offline_host_keeps_its_gpus_until_declared_dead(client, admin, agent, app, db,
                                                            settings, broker):
    agent("gpu-1", gpus=2)
    unit = submit(client, admin, 2, "on-gpu-1")
    agent("gpu-2", gpus=2)
    silence(db, "gpu-1", settings.host_offline_seconds + 1)
    dispatcher = app.state.context.dispatcher
    with db() as session:
        declare_dead_hosts(session, settings, dispatcher)
    assert get(client, admin, unit["id"])["state"] == "starting"  # offline, not dead
    cluster = client.get("/api/v1/cluster", headers=admin).json()
    [gpu_1] = [h for h in cluster["hosts"] if h["name"] == "gpu-1"]
    assert gpu_1["status"] == "offline"
    assert [g["held_by"]["unit"] for g in gpu_1["gpus"]] == [unit["id"]] * 2
    assert submit(client, admin, 2, "elsewhere")["host"] == "gpu-2"
    assert submit(client, admin, 1, "nowhere")["reason"] == \
        "needs 1 GPU on one host; largest free block is 0"

    silence(db, "gpu-1", settings.host_dead_seconds + 1)
    with db() as session:
        declare_dead_hosts(session, settings, dispatcher)
    lost = get(client, admin, unit["id"])
    assert lost["state"] == "lost"
    assert lost["error"] == f"host gpu-1 declared dead: silent for {settings.host_dead_seconds:g} s"


def test_lost_unit_with_restart_policy_is_queued_again_as_a_new_attempt(client, admin,
                                                                        agent, broker):
    first_host = agent("gpu-1", gpus=2)
    unit = submit(client, admin, 2, "resilient", on_lost="restart", max_restarts=1)
    first_host.report(unit["id"], "running")
    first_host.report(unit["id"], "missing")
    assert get(client, admin, unit["id"])["state"] == "lost"
    units = client.get(UNITS, headers=admin, params={"state": "starting"}).json()["data"]
    [again] = [u for u in units if u["workload"] == unit["workload"]]
    # The lost unit's GPUs are free again, and its host is still online.
    assert (again["attempt"], again["host"], again["name"]) == (2, "gpu-1", "resilient")
    assert started(broker) == [unit["id"], again["id"]]
    # Its one restart is used up: the next loss is final.
    first_host.report(again["id"], "missing")
    assert get(client, admin, again["id"])["state"] == "lost"
    assert client.get(UNITS, headers=admin).json()["count"] == 2


def test_lost_unit_with_fail_policy_stays_lost(client, admin, agent, broker):
    host = agent("gpu-1", gpus=2)
    unit = submit(client, admin, 1, "fragile")
    host.report(unit["id"], "missing")
    assert get(client, admin, unit["id"])["state"] == "lost"
    assert [u["id"] for u in client.get(UNITS, headers=admin).json()["data"]] == [unit["id"]]


def test_queue_and_cluster_show_only_what_each_may_see(client, admin, agent, make_user):
    agent("gpu-1", gpus=2)
    alice, bob = make_user("alice"), make_user("bob")
    held = submit(client, alice, 2, "alice-train")
    submit(client, alice, 1, "alice-next")
    submit(client, bob, 1, "bob-next")
    mine = client.get("/api/v1/queue", headers=bob).json()
    assert [(e["name"], e["position"], e["owner"]) for e in mine["data"]] == \
        [("bob-next", 2, "bob")]
    assert mine["count"] == 1
    everyone = client.get("/api/v1/queue", headers=admin).json()
    assert [e["name"] for e in everyone["data"]] == ["alice-next", "bob-next"]
    assert client.get("/api/v1/cluster", headers=bob).status_code == 403
    cluster = client.get("/api/v1/cluster", headers=admin).json()
    assert (cluster["count"], cluster["gpus"], cluster["gpus_free"], cluster["queued"]) == \
        (1, 2, 0, 2)
    [host] = cluster["hosts"]
    holders = [g["held_by"] for g in host["gpus"]]
    assert [(h["unit"], h["owner"], h["unit_name"], h["visible_index"]) for h in holders] == \
        [(held["id"], "alice", "alice-train", 0), (held["id"], "alice", "alice-train", 1)]
    assert [g["index"] for g in host["gpus"]] == [g["index"] for g in held["gpus"]]


def test_scheduler_thread_declares_dead_hosts_and_places_work(settings, admin_password,
                                                              db):
    """The control plane's own thread, with a short interval: no request sets it off."""
    del db  # the fixture's app made the schema; this test runs its own app on it
    ticking = settings.model_copy(update={"scheduler_seconds": 0.1, "host_dead_seconds": 30})
    with TestClient(create_app(ticking)) as client:
        admin = {"Authorization": "Bearer " + client.post("/api/v1/auth/token", data={
            "username": "admin", "password": admin_password}).json()["access_token"]}
        hosts = {}
        for name in ("gpu-1", "gpu-2"):
            token = client.post("/api/v1/hosts", headers=admin, json={"name": name}).json()
            hosts[name] = {"Authorization": f"Bearer {token['token']}"}
            client.post("/api/v1/agent/register", headers=hosts[name], json={
                "runtime": "process", "address": "127.0.0.1", "version": "test", "units": [],
                "gpus": [{"index": 0, "uuid": f"GPU-{name}", "model": "sim",
                          "memory_total_mib": 1, "memory_used_mib": 0, "simulated": True}]})
        unit = submit(client, admin, 1, "survivor", on_lost="restart")
        assert unit["host"] == "gpu-1"
        sessions = client.app.state.context.sessions
        silence(sessions, "gpu-1", 31)
        deadline = time.monotonic() + 10
        while get(client, admin, unit["id"])["state"] != "lost":
            assert time.monotonic() < deadline, "the thread never declared gpu-1 dead"
            time.sleep(0.05)
        while not (again := [u for u in client.get(UNITS, headers=admin).json()["data"]
                             if u["attempt"] == 2 and u["state"] == "starting"]):
            assert time.monotonic() < deadline, "the restarted unit was never placed"
            time.sleep(0.05)
        assert again[0]["host"] == "gpu-2"


def submit_gang(db, settings, dispatcher, gpus: list[int], name: str, **policy) -> str:
    """A workload of several units, submitted through the service layer: the scheduler's
    own gang rules, without a job's (those are in test_jobs_api.py)."""
    with db() as session:
        owner = session.scalar(select(User).where(User.username == "admin"))
        template = UnitSpec(unit_id="-", name="-", command=["python", "train.py"])
        workload, _ = workloads.submit(
            session, owner, "gang", name,
            [UnitTemplate(f"{name}-{i}", n, template) for i, n in enumerate(gpus)], **policy)
        session.commit()
        scheduling.run_pass(session, settings, dispatcher)
        return workload.id


def gang_units(client, admin, workload_id: str) -> list[dict]:
    units = client.get(UNITS, headers=admin, params={"limit": 500}).json()["data"]
    return sorted((u for u in units if u["workload"] == workload_id),
                  key=lambda u: (u["attempt"], u["name"]))


def test_a_gang_is_placed_whole_or_not_at_all(client, admin, agent, app, db, settings,
                                              broker):
    first, second = agent("gpu-1", gpus=2), agent("gpu-2", gpus=2)
    dispatcher = app.state.context.dispatcher
    lone = submit(client, admin, 1, "lone")
    gang = submit_gang(db, settings, dispatcher, [2, 2], "pair")
    units = gang_units(client, admin, gang)
    assert [(u["state"], u["position"]) for u in units] == [("queued", 1), ("queued", 1)]
    assert units[0]["reason"] == "needs 2 GPUs on one host; largest free block is 1 " \
                                 "(1 of 2 units fit)"
    assert not {u["id"] for u in units} & set(started(broker))  # nothing half-placed
    (first if lone["host"] == "gpu-1" else second).report(lone["id"], "exited", exit_code=0)
    units = gang_units(client, admin, gang)
    assert [u["state"] for u in units] == ["starting", "starting"]
    assert sorted(u["host"] for u in units) == ["gpu-1", "gpu-2"]


def test_a_lost_replica_restarts_its_whole_gang(client, admin, agent, app, db, settings,
                                                broker):
    first, second = agent("gpu-1", gpus=2), agent("gpu-2", gpus=2)
    dispatcher = app.state.context.dispatcher
    gang = submit_gang(db, settings, dispatcher, [2, 2], "pair", on_lost=LostPolicy.restart,
                       max_restarts=2)
    units = gang_units(client, admin, gang)
    by_host = {u["host"]: u for u in units}
    first.report(by_host["gpu-1"]["id"], "running")
    second.report(by_host["gpu-2"]["id"], "running")
    first.report(by_host["gpu-1"]["id"], "missing")
    after = {u["id"]: u for u in gang_units(client, admin, gang)}
    assert after[by_host["gpu-1"]["id"]]["state"] == "lost"
    sibling = after[by_host["gpu-2"]["id"]]
    lost_name = by_host["gpu-1"]["name"]
    assert (sibling["state"], sibling["error"]) == \
        ("stopping", f"stopped: unit {lost_name} of the same workload was lost")
    assert [m.args for m in broker.messages(TASK_STOP_UNIT)] == [[sibling["id"]]]
    # The second attempt waits for the sibling's GPUs, then starts whole.
    retry = [u for u in after.values() if u["attempt"] == 2]
    assert [u["state"] for u in retry] == ["queued", "queued"]
    second.report(sibling["id"], "missing")
    retry = [u for u in gang_units(client, admin, gang) if u["attempt"] == 2]
    assert [u["state"] for u in retry] == ["starting", "starting"]
