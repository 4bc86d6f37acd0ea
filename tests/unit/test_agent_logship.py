"""Log shipping with a fake runtime and a control plane that keeps lines by offset."""

from __future__ import annotations

import threading
import time

import pytest

from dllab.protocol import MAX_LOG_LINE, UnitLogAck, UnitLogLines, UnitSpec
from dllab_agent.client import ControlPlaneRefused, ControlPlaneUnreachable
from dllab_agent.logship import LogShipping, ship_unit_logs
from fakes import FakeRuntime


class LogServer:
    """Keeps each unit's lines as the control plane does: only those past what it has."""

    def __init__(self, already: int = 0) -> None:
        self.lines: list[str] = ["(shipped before)"] * already
        self.batches: list[tuple[int, int]] = []  # (offset, count) of non-empty batches
        self.failures: list[Exception] = []  # raised by the next calls, in order
        self._lock = threading.Lock()

    def ship_logs(self, unit_id: str, batch: UnitLogLines) -> UnitLogAck:
        with self._lock:
            if self.failures:
                raise self.failures.pop(0)
            if batch.lines:
                self.batches.append((batch.offset, len(batch.lines)))
                self.lines.extend(batch.lines[len(self.lines) - batch.offset :])
            return UnitLogAck(next_offset=len(self.lines))

    def texts(self) -> list[str]:
        return [line.split(" ", 1)[1] for line in self.lines]


def unit(runtime: FakeRuntime, unit_id: str = "u-1") -> str:
    runtime.start(UnitSpec(unit_id=unit_id, name=unit_id, command=["true"]))
    return unit_id


def ship(runtime, server, unit_id="u-1", stop=None, **batching) -> None:
    ship_unit_logs(runtime, server, unit_id, stop or threading.Event(), **batching)


def wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_shipping_resumes_where_the_server_stopped():
    runtime = FakeRuntime(log_lines=[f"line {i}" for i in range(5)])
    runtime.finish(unit(runtime), 0)
    server = LogServer(already=2)

    ship(runtime, server)

    assert server.batches == [(2, 3)]  # lines 0 and 1 were not sent again
    assert server.texts()[2:] == ["line 2", "line 3", "line 4"]


def test_a_long_log_goes_in_batches_of_at_most_batch_lines():
    runtime = FakeRuntime(log_lines=[f"line {i}" for i in range(1200)])
    runtime.finish(unit(runtime), 0)
    server = LogServer()

    ship(runtime, server, batch_lines=500)

    assert server.batches == [(0, 500), (500, 500), (1000, 200)]
    assert server.texts() == [f"line {i}" for i in range(1200)]


def test_a_running_unit_is_followed_until_it_ends():
    runtime = FakeRuntime()
    unit(runtime)
    server = LogServer()
    shipper = threading.Thread(target=ship, args=(runtime, server), kwargs={"batch_seconds": 0.05})
    shipper.start()

    runtime.emit("u-1", "epoch 1")
    wait_for(lambda: server.texts() == ["epoch 1"])  # shipped while the unit still runs
    runtime.emit("u-1", "epoch 2", "done")
    runtime.finish("u-1", 0)
    shipper.join(5)

    assert not shipper.is_alive()
    assert server.texts() == ["epoch 1", "epoch 2", "done"]


def test_a_control_plane_away_for_a_while_loses_no_line():
    runtime = FakeRuntime(log_lines=["a", "b", "c"])
    runtime.finish(unit(runtime), 0)
    server = LogServer()
    server.failures = [ControlPlaneUnreachable("down"), ControlPlaneRefused("502", 502, "")]

    ship(runtime, server)

    assert server.texts() == ["a", "b", "c"]


def test_a_unit_the_control_plane_refuses_is_given_up():
    runtime = FakeRuntime(log_lines=["a"])
    runtime.finish(unit(runtime), 0)
    server = LogServer()
    server.failures = [ControlPlaneRefused("404", 404, "no such unit")]

    ship(runtime, server)

    assert server.lines == []


def test_the_stop_event_ends_a_shipper_of_a_running_unit():
    runtime = FakeRuntime()
    unit(runtime)
    stop = threading.Event()
    shipper = threading.Thread(target=ship, args=(runtime, LogServer()), kwargs={"stop": stop})
    shipper.start()
    stop.set()
    shipper.join(5)
    assert not shipper.is_alive()
    runtime.finish("u-1", 0)  # lets the runtime's follow end too


@pytest.mark.parametrize("times", [1, 3])
def test_each_unit_gets_one_shipper(times):
    runtime = FakeRuntime(log_lines=["hello"])
    runtime.finish(unit(runtime), 0)
    server = LogServer()
    shipping = LogShipping(runtime, server, threading.Event())
    for _ in range(times):
        shipping.watch("u-1")
    shipping.join(5)
    assert server.batches == [(0, 1)]


def test_a_line_longer_than_the_protocol_allows_is_cut_not_fatal():
    runtime = FakeRuntime(log_lines=["x" * (MAX_LOG_LINE + 10_000), "after"])
    runtime.finish(unit(runtime), 0)
    server = LogServer()

    ship(runtime, server)

    assert [len(line) for line in server.lines] == [MAX_LOG_LINE, len(server.lines[1])]
    assert server.texts()[1] == "after"
