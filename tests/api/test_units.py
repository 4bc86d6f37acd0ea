"""Units through the API, with the host's agent played by the test: placement (or the queue
when nothing fits), the start command on the broker, states reported by the agent, stop,
logs, and who sees what. The queue itself is tested in ``test_scheduling.py``."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update

from dllab.db.models import Host
from dllab.protocol import TASK_START_UNIT, TASK_STOP_UNIT

UNITS = "/api/v1/units"


def gpus_of(unit: dict) -> list[int]:
    return [g["index"] for g in unit["gpus"]]


def get(client, headers, unit_id: str) -> dict:
    answer = client.get(f"{UNITS}/{unit_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_created_unit_is_starting_on_a_host_with_remapped_gpus(client, admin, agent,
                                                               run_unit):
    agent("gpu-1", gpus=4)
    unit = run_unit(admin, gpus=2, name="train", env={"EPOCHS": "3"})
    assert unit["state"] == "starting"
    assert unit["host"] == "gpu-1"
    assert (unit["owner"], unit["kind"], unit["name"]) == ("admin", "unit", "train")
    assert unit["command"] == ["python", "train.py"]
    assert len(unit["gpus"]) == 2
    assert [g["visible_index"] for g in unit["gpus"]] == [0, 1]
    for gpu in unit["gpus"]:
        assert gpu["uuid"] == f"GPU-00000000-0000-0000-0000-{gpu['index']:012d}"
        assert gpu["simulated"] is True
    assert get(client, admin, unit["id"]) == unit


def test_start_command_is_sent_to_the_hosts_broker_queue(admin, agent, run_unit, broker):
    agent("gpu-1", gpus=4)
    unit = run_unit(admin, gpus=2, name="train", env={"EPOCHS": "3"}, ports=[8888])
    [message] = broker.messages(TASK_START_UNIT)
    assert message.queue == "host.gpu-1"
    [spec] = message.args
    assert spec["unit_id"] == unit["id"]
    assert spec["name"].startswith("dllab-train-")
    assert spec["gpus"] == gpus_of(unit)  # physical indices; the agent remaps them
    assert spec["gpus_simulated"] is True
    assert spec["command"] == ["python", "train.py"]
    assert spec["env"] == {"EPOCHS": "3"}
    assert "CUDA_VISIBLE_DEVICES" not in spec["env"]
    assert spec["ports"] == [8888]
    assert spec["image"] is None  # a process host runs no image
    assert spec["labels"] == {"dllab.kind": "unit", "dllab.owner": "admin",
                              "dllab.workload": unit["workload"], "dllab.host": "gpu-1"}


def test_docker_host_gets_the_default_image_unless_one_is_named(admin, agent, run_unit,
                                                                broker, settings):
    agent("gpu-1", gpus=0, runtime="docker")
    default = run_unit(admin, name="plain")
    named = run_unit(admin, name="custom", image="tensorflow/tensorflow:2.16.1-gpu")
    images = {m.args[0]["unit_id"]: m.args[0]["image"]
              for m in broker.messages(TASK_START_UNIT)}
    assert images == {default["id"]: settings.default_image,
                      named["id"]: "tensorflow/tensorflow:2.16.1-gpu"}


def test_placement_never_double_books_gpus(client, admin, agent, run_unit):
    agent("gpu-1", gpus=4)
    first, second = run_unit(admin, gpus=2, name="a"), run_unit(admin, gpus=2, name="b")
    assert set(gpus_of(first)).isdisjoint(gpus_of(second))
    assert sorted(gpus_of(first) + gpus_of(second)) == [0, 1, 2, 3]
    third = run_unit(admin, gpus=1, name="c")  # accepted, but it waits for a GPU
    assert (third["state"], third["position"], third["host"], third["gpus"]) == \
        ("queued", 1, None, [])
    assert third["reason"] == "needs 1 GPU on one host; largest free block is 0"
    cpu_only = run_unit(admin, gpus=0, name="d")  # needs no GPU, so it still fits
    assert (cpu_only["state"], cpu_only["host"], cpu_only["gpus"]) == ("starting", "gpu-1", [])
    assert get(client, admin, third["id"])["state"] == "queued"


def test_request_larger_than_any_free_block_is_queued_and_says_why(admin, agent, run_unit,
                                                                    broker):
    agent("gpu-1", gpus=4)
    agent("gpu-2", gpus=2)
    assert run_unit(admin, gpus=2, name="a")["host"] == "gpu-2"  # the tighter fit
    assert run_unit(admin, gpus=1, name="b")["host"] == "gpu-1"  # gpu-2 is full
    waiting = run_unit(admin, gpus=4, name="c")
    assert (waiting["state"], waiting["position"], waiting["gpu_count"]) == ("queued", 1, 4)
    assert (waiting["host"], waiting["gpus"]) == (None, [])
    assert waiting["reason"] == "needs 4 GPUs on one host; largest free block is 3"
    assert waiting["id"] not in [m.args[0]["unit_id"] for m in broker.messages(TASK_START_UNIT)]


def test_placement_packs_onto_the_fullest_host_that_fits(admin, agent, run_unit):
    agent("gpu-a", gpus=4)
    agent("gpu-b", gpus=4)
    assert run_unit(admin, gpus=1, name="first")["host"] == "gpu-a"  # a tie: the first name
    assert run_unit(admin, gpus=2, name="second")["host"] == "gpu-a"  # 3 free beats 4
    assert run_unit(admin, gpus=2, name="third")["host"] == "gpu-b"  # gpu-a has 1 left
    assert run_unit(admin, gpus=1, name="fourth")["host"] == "gpu-a"  # 1 free beats 2
    assert run_unit(admin, gpus=2, name="fifth")["host"] == "gpu-b"


def test_the_scheduler_alone_places_units(client, admin, agent, broker):
    agent("gpu-a", gpus=4)
    agent("gpu-b", gpus=4)
    pinned = client.post(UNITS, headers=admin,
                         json={"name": "x", "command": ["x"], "host": "gpu-b"})
    assert pinned.status_code == 422
    assert "host" in pinned.json()["detail"]
    assert client.get(UNITS, headers=admin).json()["count"] == 0
    assert broker.messages(TASK_START_UNIT) == []


def test_hosts_that_are_not_online_get_no_units(client, admin, agent, run_unit, db, settings,
                                                broker):
    client.post("/api/v1/hosts", headers=admin, json={"name": "gpu-new"})  # never registered
    old = agent("gpu-old", gpus=4)
    silent = datetime.now(UTC) - timedelta(seconds=settings.host_offline_seconds + 1)
    with db() as session:
        session.execute(update(Host).where(Host.name == "gpu-old").values(last_seen_at=silent))
        session.commit()
    waiting = run_unit(admin, gpus=1)
    assert (waiting["state"], waiting["position"], waiting["host"]) == ("queued", 1, None)
    assert waiting["reason"] == "no online host"
    assert broker.messages(TASK_START_UNIT) == []
    # The host comes back: its heartbeat runs a pass, which places the unit there.
    assert old.heartbeat().status_code == 204
    placed = get(client, admin, waiting["id"])
    assert (placed["state"], placed["host"], placed["position"], placed["reason"]) == \
        ("starting", "gpu-old", None, None)
    assert [m.args[0]["unit_id"] for m in broker.messages(TASK_START_UNIT)] == [waiting["id"]]


def test_reports_move_the_unit_through_running_to_exited(client, admin, agent, run_unit,
                                                         broker):
    host = agent("gpu-1", gpus=2)
    unit = run_unit(admin, gpus=1)
    assert host.report(unit["id"], "running", runtime_id="4242", ports={8888: 32768},
                       started_at=1_800_000_000.0).status_code == 204
    running = get(client, admin, unit["id"])
    assert running["state"] == "running"
    assert running["ports"] == {"8888": 32768}
    assert datetime.fromisoformat(running["started_at"]) == \
        datetime.fromtimestamp(1_800_000_000.0, UTC)
    assert broker.messages(TASK_STOP_UNIT) == []
    assert host.report(unit["id"], "exited", exit_code=0).status_code == 204
    exited = get(client, admin, unit["id"])
    assert (exited["state"], exited["exit_code"], exited["error"]) == ("exited", 0, None)
    assert exited["finished_at"] is not None
    # The ended unit is removed from its host (its record and logs stay).
    assert [m.args for m in broker.messages(TASK_STOP_UNIT)] == [[unit["id"]]]


@pytest.mark.parametrize("fields, error", [
    ({"exit_code": 3}, "exited with code 3"),
    ({"exit_code": 137, "error": "killed: out of memory"}, "killed: out of memory"),
    ({}, "ended; exit status unknown"),
])
def test_non_zero_exit_is_failed_with_an_error(client, admin, agent, run_unit, fields, error):
    host = agent("gpu-1", gpus=1)
    unit = run_unit(admin, gpus=1)
    host.report(unit["id"], "running")
    assert host.report(unit["id"], "exited", **fields).status_code == 204
    failed = get(client, admin, unit["id"])
    assert failed["state"] == "failed"
    assert failed["exit_code"] == fields.get("exit_code")
    assert failed["error"] == error


def test_unit_the_host_no_longer_knows_is_lost(client, admin, agent, run_unit):
    host = agent("gpu-1", gpus=1)
    unit = run_unit(admin, gpus=1)
    host.report(unit["id"], "running")
    assert host.heartbeat([{"unit_id": unit["id"], "state": "missing"}]).status_code == 204
    lost = get(client, admin, unit["id"])
    assert lost["state"] == "lost"
    assert lost["error"]


def test_heartbeat_reports_update_units_too(client, admin, agent, run_unit):
    host = agent("gpu-1", gpus=2)
    first, second = run_unit(admin, gpus=1, name="a"), run_unit(admin, gpus=1, name="b")
    host.heartbeat([{"unit_id": first["id"], "state": "running"},
                    {"unit_id": second["id"], "state": "exited", "exit_code": 0}])
    assert get(client, admin, first["id"])["state"] == "running"
    assert get(client, admin, second["id"])["state"] == "exited"


def test_stop_then_missing_is_stopped_and_frees_the_gpus(client, admin, agent, run_unit,
                                                         broker):
    host = agent("gpu-1", gpus=4)
    unit = run_unit(admin, gpus=4)
    host.report(unit["id"], "running")
    answer = client.post(f"{UNITS}/{unit['id']}/stop", headers=admin)
    assert answer.status_code == 200
    assert answer.json()["state"] == "stopping"
    [stop] = broker.messages(TASK_STOP_UNIT)
    assert (stop.queue, stop.args) == ("host.gpu-1", [unit["id"]])
    # Still holding its GPUs until the agent confirms: the next unit waits.
    waiting = run_unit(admin, gpus=4, name="next")
    assert (waiting["state"], waiting["position"]) == ("queued", 1)
    host.report(unit["id"], "running")  # a late heartbeat does not undo the stop
    assert get(client, admin, unit["id"])["state"] == "stopping"
    assert get(client, admin, waiting["id"])["state"] == "queued"
    assert host.report(unit["id"], "missing").status_code == 204
    stopped = get(client, admin, unit["id"])
    assert stopped["state"] == "stopped"
    assert stopped["finished_at"] is not None
    # The freed GPUs go to the waiting unit at once.
    placed = get(client, admin, waiting["id"])
    assert (placed["state"], placed["host"]) == ("starting", "gpu-1")
    assert sorted(gpus_of(placed)) == [0, 1, 2, 3]
    assert [m.args[0]["unit_id"] for m in broker.messages(TASK_START_UNIT)] == \
        [unit["id"], waiting["id"]]


def test_unit_that_exits_while_stopping_is_stopped_once_removed(client, admin, agent,
                                                               run_unit):
    host = agent("gpu-1", gpus=1)
    unit = run_unit(admin, gpus=1)
    assert client.post(f"{UNITS}/{unit['id']}/stop", headers=admin).status_code == 200
    host.report(unit["id"], "exited", exit_code=143)  # ended, but still on the host
    assert get(client, admin, unit["id"])["state"] == "stopping"
    host.report(unit["id"], "missing")
    stopped = get(client, admin, unit["id"])
    assert (stopped["state"], stopped["error"]) == ("stopped", None)


def test_stopping_an_ended_unit_changes_nothing(client, admin, agent, run_unit, broker):
    host = agent("gpu-1", gpus=1)
    unit = run_unit(admin, gpus=1)
    host.report(unit["id"], "exited", exit_code=0)
    before = len(broker.messages(TASK_STOP_UNIT))
    answer = client.post(f"{UNITS}/{unit['id']}/stop", headers=admin)
    assert answer.status_code == 200
    assert answer.json()["state"] == "exited"
    assert len(broker.messages(TASK_STOP_UNIT)) == before


def test_final_state_is_never_left(client, admin, agent, run_unit):
    host = agent("gpu-1", gpus=1)
    unit = run_unit(admin, gpus=1)
    host.report(unit["id"], "exited", exit_code=3)
    host.report(unit["id"], "running")
    host.report(unit["id"], "exited", exit_code=0)
    assert get(client, admin, unit["id"])["state"] == "failed"


def test_list_shows_own_units_newest_first_and_filters_by_state(client, admin, agent,
                                                                run_unit):
    host = agent("gpu-1", gpus=4)
    ids = [run_unit(admin, gpus=1, name=f"u{i}")["id"] for i in range(3)]
    host.report(ids[1], "running")
    answer = client.get(UNITS, headers=admin)
    assert answer.status_code == 200
    assert answer.json()["count"] == 3
    assert [u["id"] for u in answer.json()["data"]] == ids[::-1]
    running = client.get(UNITS, headers=admin, params={"state": "running"}).json()
    assert (running["count"], [u["id"] for u in running["data"]]) == (1, [ids[1]])
    page = client.get(UNITS, headers=admin, params={"limit": 1, "offset": 1}).json()
    assert (page["count"], [u["id"] for u in page["data"]]) == (3, [ids[1]])


# Ownership: another user's unit does not exist for you.


@pytest.fixture
def alices_unit(agent, make_user, run_unit):
    agent("gpu-1", gpus=4)
    alice = make_user("alice")
    return alice, run_unit(alice, gpus=1, name="alices")


def test_users_cannot_see_or_touch_each_others_units(client, make_user, alices_unit, broker):
    _, unit = alices_unit
    bob = make_user("bob")
    for method, path in [("GET", ""), ("POST", "/stop"), ("GET", "/logs")]:
        answer = client.request(method, f"{UNITS}/{unit['id']}{path}", headers=bob)
        assert answer.status_code == 404, (method, path)
        assert answer.json()["reason"] == "unit_not_found"
    assert client.get(UNITS, headers=bob).json() == {"data": [], "count": 0}
    assert broker.messages(TASK_STOP_UNIT) == []


def test_owner_sees_own_units_only_and_admin_sees_all(client, admin, alices_unit, run_unit):
    alice, unit = alices_unit
    mine = run_unit(admin, gpus=1, name="admins")
    alices_list = client.get(UNITS, headers=alice).json()
    assert [u["id"] for u in alices_list["data"]] == [unit["id"]]
    assert alices_list["count"] == 1
    assert client.get(f"{UNITS}/{mine['id']}", headers=alice).status_code == 404
    everything = client.get(UNITS, headers=admin).json()
    assert {u["id"] for u in everything["data"]} == {unit["id"], mine["id"]}
    assert everything["count"] == 2
    assert get(client, admin, unit["id"])["owner"] == "alice"
    assert client.post(f"{UNITS}/{unit['id']}/stop", headers=admin).json()["state"] == "stopping"


# Logs: shipped by the agent with offsets, read by the owner.


def test_logs_are_stored_once_and_read_back_with_tail(client, admin, agent, run_unit):
    host = agent("gpu-1", gpus=1)
    unit = run_unit(admin, gpus=1)
    assert host.ship_logs(unit["id"], 0, ["epoch 1", "epoch 2"]).json() == {"next_offset": 2}
    # The same batch again (an agent that restarted), then one overlapping the first.
    assert host.ship_logs(unit["id"], 0, ["epoch 1", "epoch 2"]).json() == {"next_offset": 2}
    assert host.ship_logs(unit["id"], 1, ["epoch 2", "epoch 3"]).json() == {"next_offset": 3}
    assert host.ship_logs(unit["id"], 3, []).json() == {"next_offset": 3}
    logs = client.get(f"{UNITS}/{unit['id']}/logs", headers=admin)
    assert logs.status_code == 200
    assert logs.headers["content-type"].startswith("text/plain")
    assert logs.text == "epoch 1\nepoch 2\nepoch 3\n"
    tail = client.get(f"{UNITS}/{unit['id']}/logs", headers=admin, params={"tail": 2})
    assert tail.text == "epoch 2\nepoch 3\n"


def test_log_batch_past_a_gap_is_refused_with_where_to_resume(client, admin, agent, run_unit):
    host = agent("gpu-1", gpus=1)
    unit = run_unit(admin, gpus=1)
    host.ship_logs(unit["id"], 0, ["a"])
    assert host.ship_logs(unit["id"], 5, ["f", "g"]).json() == {"next_offset": 1}
    assert client.get(f"{UNITS}/{unit['id']}/logs", headers=admin).text == "a\n"


def test_empty_batch_answers_where_to_resume(admin, agent, run_unit):
    host = agent("gpu-1", gpus=1)
    unit = run_unit(admin, gpus=1)
    assert host.ship_logs(unit["id"], 0, []).json() == {"next_offset": 0}
    host.ship_logs(unit["id"], 0, ["a", "b"])
    assert host.ship_logs(unit["id"], 0, []).json() == {"next_offset": 2}


def test_unit_without_logs_has_empty_logs(client, admin, agent, run_unit):
    agent("gpu-1", gpus=1)
    unit = run_unit(admin, gpus=1)
    answer = client.get(f"{UNITS}/{unit['id']}/logs", headers=admin)
    assert (answer.status_code, answer.text) == (200, "")


def test_following_the_logs_of_an_ended_unit_returns_them_all(client, admin, agent, run_unit):
    host = agent("gpu-1", gpus=1)
    unit = run_unit(admin, gpus=1)
    host.ship_logs(unit["id"], 0, ["one", "two", "three"])
    host.report(unit["id"], "exited", exit_code=0)
    answer = client.get(f"{UNITS}/{unit['id']}/logs", headers=admin,
                        params={"follow": True, "tail": 2})
    assert (answer.status_code, answer.text) == (200, "two\nthree\n")


def test_log_lines_keep_carriage_returns_as_one_line(client, admin, agent, run_unit):
    """Progress bars (tqdm, Keras) write ``\\r``: a shipped line is one line in the tail."""
    host = agent("gpu-1", gpus=1)
    unit = run_unit(admin, gpus=1)
    host.ship_logs(unit["id"], 0, ["10%\r50%\r100%", "done"])
    tail = client.get(f"{UNITS}/{unit['id']}/logs", headers=admin, params={"tail": 2})
    lines = tail.text.split("\n")
    assert len(lines) == 3 and lines[2] == ""  # two lines, each ended by a newline
    assert lines[0].startswith("10%") and lines[0].endswith("100%")
    assert lines[1] == "done"


def test_following_a_running_unit_streams_until_it_ends(client, api, app, admin, agent,
                                                        run_unit, monkeypatch):
    host = agent("gpu-1", gpus=1)
    unit = run_unit(admin, gpus=1)
    host.report(unit["id"], "running")
    host.ship_logs(unit["id"], 0, ["before"])
    store = app.state.context.logs
    following = threading.Event()
    real_follow = store.follow

    def follow(*args, **kwargs):
        following.set()
        return real_follow(*args, **kwargs)

    monkeypatch.setattr(store, "follow", follow)
    answers: list = []
    reader = threading.Thread(target=lambda: answers.append(api.get(
        f"{UNITS}/{unit['id']}/logs", headers=admin, params={"follow": True})))
    reader.start()
    try:
        assert following.wait(timeout=30), "the logs were never followed"
        host.ship_logs(unit["id"], 1, ["during"])
        host.report(unit["id"], "exited", exit_code=0)
    finally:
        reader.join(timeout=30)
    assert not reader.is_alive(), "following did not end with the unit"
    [answer] = answers
    assert (answer.status_code, answer.text) == (200, "before\nduring\n")


def fail_to_send(app, monkeypatch) -> None:
    """The broker goes away: every command the control plane sends fails."""
    def unreachable(*args, **kwargs):
        raise OSError("connection refused")

    monkeypatch.setattr(app.state.context.dispatcher._celery, "send_task", unreachable)


def test_unit_the_broker_cannot_take_goes_back_to_the_queue(client, app, admin, agent,
                                                            run_unit, broker, monkeypatch):
    agent("gpu-1", gpus=2)
    with monkeypatch.context() as patch:
        fail_to_send(app, patch)
        unit = run_unit(admin, gpus=2, name="first")
    assert (unit["state"], unit["host"], unit["gpus"]) == ("queued", None, [])
    assert unit["reason"].startswith("was placed, but the command broker is unreachable")
    assert broker.messages(TASK_START_UNIT) == []
    # The broker is back; the next pass (here, another submission's) places the unit
    # first, on the GPUs nothing kept, and sends it.
    second = run_unit(admin, gpus=2, name="second")
    placed = get(client, admin, unit["id"])
    assert (placed["state"], placed["host"], placed["reason"]) == ("starting", "gpu-1", None)
    assert sorted(gpus_of(placed)) == [0, 1]
    assert [m.args[0]["unit_id"] for m in broker.messages(TASK_START_UNIT)] == [unit["id"]]
    assert (second["state"], second["position"]) == ("queued", 1)


def test_stop_the_broker_cannot_take_is_503_and_can_be_retried(client, app, admin, agent,
                                                               run_unit, broker, monkeypatch):
    agent("gpu-1", gpus=1)
    unit = run_unit(admin, gpus=1)
    with monkeypatch.context() as patch:
        fail_to_send(app, patch)
        answer = client.post(f"{UNITS}/{unit['id']}/stop", headers=admin)
        assert answer.status_code == 503
    retry = client.post(f"{UNITS}/{unit['id']}/stop", headers=admin)
    assert (retry.status_code, retry.json()["state"]) == (200, "stopping")
    assert [m.args for m in broker.messages(TASK_STOP_UNIT)] == [[unit["id"]]]


def test_concurrent_requests_never_share_a_gpu(client, live_server, admin, agent_host):
    """Eight clients at once ask for the one GPU of a host: exactly one gets it, the other
    seven wait in the queue, one behind the other."""
    agent_host("solo", gpus=1)

    def ask(n: int) -> httpx.Response:
        return httpx.post(f"{live_server}/api/v1/units", headers=admin, timeout=30, json={
            "name": f"race-{n}", "command": ["true"], "gpus": 1})

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, range(8)))
    assert [a.status_code for a in answers] == [201] * 8, [a.text for a in answers]
    [winner] = [a.json() for a in answers if a.json()["state"] == "starting"]
    assert (winner["host"], gpus_of(winner)) == ("solo", [0])
    # Each answer shows the queue as it stood then; the list shows it once all are in.
    units = client.get(UNITS, headers=admin).json()["data"]
    assert sorted(u["state"] for u in units) == ["queued"] * 7 + ["starting"]
    assert [gpus_of(u) for u in units if u["gpus"]] == [[0]]
    assert sorted(u["position"] for u in units if u["state"] == "queued") == list(range(1, 8))
