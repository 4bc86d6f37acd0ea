"""``dllab.scheduler.queue``: one pass over hosts and queue, tested with tables."""

from __future__ import annotations

import pytest

from dllab.scheduler.placement import HostView, Placement, Policy, UnitRequest
from dllab.scheduler.queue import Decisions, Request, Reservation, queue_order, schedule


def host(name: str, gpus: int = 4, used: tuple[int, ...] = (), online: bool = True,
         cpus: float | None = None, memory_mib: int | None = None,
         runtime: str | None = None) -> HostView:
    return HostView(name, online, tuple(range(gpus)), frozenset(used), cpus=cpus,
                    memory_mib=memory_mib, runtime=runtime)


def req(id: str, gpus: int = 1, units: int = 1, owner: str = "ann", priority: int = 0,
        at: float = 0.0, policy: Policy = Policy.pack, cpus: float = 0.0,
        memory_mib: int = 0, runtime: str | None = None) -> Request:
    return Request(id, owner, priority, at,
                   (UnitRequest(gpus, cpus, memory_mib, runtime),) * units, policy)


def run(hosts: list[HostView], queue: list[Request], quotas: dict[str, int | None] | None = None,
        usage: dict[str, int] | None = None,
        reservation: Reservation | None = None) -> Decisions:
    return schedule(hosts, queue, quotas or {}, usage or {}, reservation)


def placed(decisions: Decisions) -> dict[str, tuple[Placement, ...]]:
    return {p.request: p.placements for p in decisions.placed}


def waiting(decisions: Decisions) -> dict[str, tuple[int, str]]:
    return {w.request: (w.position, w.reason) for w in decisions.waiting}


@pytest.mark.parametrize("hosts, queue, quotas, usage, reason", [
    ([], [req("r", 1)], {}, {}, "no online host"),
    ([host("a", online=False)], [req("r", 0)], {}, {}, "no online host"),
    ([host("a", 4, used=(0, 1)), host("b", 2, used=(0,))], [req("r", 4)], {}, {},
     "needs 4 GPUs on one host; largest free block is 2"),
    ([host("a", 1, used=(0,))], [req("r", 1)], {}, {},
     "needs 1 GPU on one host; largest free block is 0"),
    ([host("a")], [req("r", 1)], {"ann": 4}, {"ann": 4}, "quota: 4 GPUs, 4 in use"),
    ([host("a")], [req("r", 2)], {"ann": 1}, {}, "quota: 1 GPU; needs 2 at once"),
    ([host("a", 8), host("b", 4)], [req("r", 16)], {}, {},
     "needs 16 GPUs on one host; largest host has 8"),
    ([host("a", 4, cpus=16)], [req("r", 1, cpus=32)], {}, {},
     "needs 32 CPUs on one host; largest host has 16"),
    ([host("a", 2, cpus=8), host("b", 1, cpus=16)], [req("r", 2, cpus=12)], {}, {},
     "needs 12 CPUs on one host; largest host has 8"),
    ([HostView("a", True, (0, 1), frozenset(), cpus=8, cpus_used=6)], [req("r", 1, cpus=4)],
     {}, {}, "needs 4 CPUs on one host; most free is 2"),
    ([HostView("a", True, (), frozenset(), memory_mib=4096, memory_used_mib=3072)],
     [req("r", 0, memory_mib=2048)], {}, {},
     "needs 2048 MiB of memory on one host; most free is 1024"),
    # A gang says how far it got: here two of three units, on "a", before the third.
    ([host("a", 8), host("b", 4, used=(0, 1))], [req("r", 4, units=3)], {}, {},
     "needs 4 GPUs on one host; largest free block is 2 (2 of 3 units fit)"),
    ([host("a", 2), host("b", 2)], [req("r", 2, units=3)], {}, {},
     "needs 2 GPUs on one host; only 2 of 3 units fit the online hosts, even empty"),
    ([host("a", 8, runtime="process")], [req("r", 1, runtime="docker")], {}, {},
     "needs a host with the docker runtime; no online host has it"),
    # A host of another runtime is no room for it: its free GPUs are not counted.
    ([host("a", 8, runtime="process"), host("b", 2, used=(0,), runtime="docker")],
     [req("r", 2, runtime="docker")], {}, {},
     "needs 2 GPUs on one host; largest free block is 1"),
])
def test_reasons(hosts, queue, quotas, usage, reason):
    decisions = run(hosts, queue, quotas, usage)
    assert waiting(decisions) == {"r": (1, reason)}


def test_queue_order_is_priority_then_submission_time_then_id():
    queue = [req("late", at=3), req("urgent", priority=5, at=4), req("early", at=1),
             req("b", at=2), req("a", at=2)]
    assert [r.id for r in queue_order(queue, None)] == ["urgent", "early", "a", "b", "late"]
    # The head of an earlier pass keeps its place, ahead of its own priority only.
    head = Reservation("late", ("h",))
    assert [r.id for r in queue_order(queue, head)] == ["urgent", "late", "early", "a", "b"]


def test_positions_count_the_waiting_in_queue_order():
    decisions = run([host("a", 2)], [req("big", 4, at=1), req("small", 1, at=2),
                                     req("other", 2, at=3), req("first", 3, priority=1)])
    assert set(placed(decisions)) == {"small"}
    assert [(w.request, w.position) for w in decisions.waiting] == [
        ("first", 1), ("big", 2), ("other", 3)]


def test_each_request_sees_what_earlier_ones_took_in_the_same_pass():
    decisions = run([host("a", 4)], [req("r1", 3, at=1), req("r2", 1, at=2), req("r3", 1, at=3)])
    assert placed(decisions) == {"r1": (Placement("a", (0, 1, 2)),),
                                 "r2": (Placement("a", (3,)),)}
    assert waiting(decisions)["r3"][1] == "needs 1 GPU on one host; largest free block is 0"


def test_a_gang_takes_all_its_units_or_nothing():
    hosts = [host("a", 2), host("b", 2, used=(0,))]
    decisions = run(hosts, [req("gang", 2, units=2, at=1), req("one", 1, owner="bob", at=2)])
    # One unit would fit on a; it is not placed alone. Behind the gang, now the head and
    # holding a and b, the one-GPU request waits too.
    assert decisions.placed == ()
    assert decisions.reservation == Reservation("gang", ("a", "b"))
    # The same gang on an idle cluster takes both hosts at once.
    assert set(placed(run([host("a", 2), host("b", 2)], [req("gang", 2, units=2)]))) == {"gang"}


def test_a_gang_that_could_never_fit_blocks_no_one():
    decisions = run([host("a", 2), host("b", 2)], [req("gang", 2, units=3, at=1),
                                                   req("one", 2, at=2)])
    assert set(placed(decisions)) == {"one"}
    assert decisions.reservation is None


def test_two_gangs_never_deadlock_each_holding_half():
    hosts = [host("a", 2), host("b", 2)]
    queue = [req("j1", 2, units=2, at=1), req("j2", 2, units=2, at=2)]
    first = run(hosts, queue)
    assert placed(first) == {"j1": (Placement("a", (0, 1)), Placement("b", (0, 1)))}
    assert waiting(first) == {"j2": (1, "needs 2 GPUs on one host; largest free block is 0 "
                                        "(0 of 2 units fit)")}
    # When j1 ends, j2 gets both hosts at once.
    second = run(hosts, [queue[1]], reservation=first.reservation)
    assert set(placed(second)) == {"j2"}


def test_pack_fills_one_host_and_spread_uses_many():
    hosts = [host("a", 4), host("b", 4), host("c", 4)]
    packed = placed(run(hosts, [req("job", 1, units=3)]))["job"]
    spread = placed(run(hosts, [req("svc", 1, units=3, policy=Policy.spread)]))["svc"]
    assert {p.host for p in packed} == {"a"}
    assert sorted(p.host for p in spread) == ["a", "b", "c"]


def test_a_unit_that_needs_a_runtime_goes_only_where_it_is():
    hosts = [host("a", 8, runtime="process"), host("b", 4, used=(0, 1), runtime="docker")]
    decisions = run(hosts, [req("env", 2, runtime="docker"), req("any", 2, units=2),
                            req("gang", 1, units=2, runtime="docker")])
    assert placed(decisions)["env"] == (Placement("b", (2, 3)),)
    assert {p.host for p in placed(decisions)["any"]} == {"a"}
    assert waiting(decisions)["gang"][1] == (
        "needs 1 GPU on one host; largest free block is 0 (0 of 2 units fit)")


def test_zero_gpu_requests_are_placed_where_every_gpu_is_taken():
    decisions = run([host("a", 2, used=(0, 1))], [req("cpu", 0, units=2)])
    assert placed(decisions) == {"cpu": (Placement("a", ()), Placement("a", ()))}


def test_over_quota_waits_and_blocks_no_one():
    hosts = [host("a", 4, used=(0, 1))]
    decisions = run(hosts, [req("big", 2, owner="ann", at=1), req("small", 2, owner="bob", at=2)],
                    quotas={"ann": 2}, usage={"ann": 2})
    assert set(placed(decisions)) == {"small"}
    assert waiting(decisions) == {"big": (1, "quota: 2 GPUs, 2 in use")}
    assert decisions.reservation is None  # over quota is never the head


def test_quota_counts_what_the_same_pass_placed():
    decisions = run([host("a", 8)], [req("r1", 3, at=1), req("r2", 2, at=2)], quotas={"ann": 4})
    assert set(placed(decisions)) == {"r1"}
    assert waiting(decisions)["r2"][1] == "quota: 4 GPUs, 3 in use"


def test_unlimited_quota_and_cpu_only_work_are_never_over_quota():
    decisions = run([host("a", 8)], [req("r1", 8, owner="bob"), req("r2", 0, owner="ann")],
                    quotas={"bob": None, "ann": 0})
    assert set(placed(decisions)) == {"r1", "r2"}


def test_the_head_gets_a_reservation_and_smaller_work_backfills_around_it():
    hosts = [host("a", 4, used=(0, 1)), host("b", 2, used=(0,))]
    decisions = run(hosts, [req("big", 4, at=1), req("s1", 1, at=2), req("s2", 2, at=3)])
    assert decisions.reservation == Reservation("big", ("a",))
    # s1 fits on b, which is not reserved; s2 would fit only on a's two free GPUs, which
    # are the big request's.
    assert placed(decisions) == {"s1": (Placement("b", (1,)),)}
    assert waiting(decisions) == {
        "big": (1, "needs 4 GPUs on one host; largest free block is 2"),
        "s2": (2, "needs 2 GPUs on one host; largest free block is 0 "
                  "(more are held for position 1)"),
    }


def test_a_reserved_host_lends_only_what_the_head_does_not_need():
    hosts = [host("a", 8, used=(0, 1, 2, 3, 4))]  # 3 free; the head needs 6 of 8
    reservation = Reservation("big", ("a",))
    queue = [req("big", 6, at=1), req("small", 1, at=2), req("cpu", 0, at=3)]
    decisions = run(hosts, queue, reservation=reservation)
    assert set(placed(decisions)) == {"cpu"}  # no GPU, so nothing the head needs
    # Once 7 are free, one is beyond the head's need... but then the head fits, and goes
    # first.
    decisions = run([host("a", 8, used=(0,))], queue, reservation=reservation)
    assert placed(decisions) == {"big": (Placement("a", (1, 2, 3, 4, 5, 6)),),
                                 "small": (Placement("a", (7,)),),
                                 "cpu": (Placement("a", ()),)}
    assert decisions.reservation is None


def test_a_stream_of_small_requests_does_not_starve_the_head():
    # Host a runs four one-GPU units; each pass one of them ends and a new one-GPU request
    # arrives. Without the reservation, every freed GPU would go to the newcomer.
    running = [0, 1, 2, 3]
    reservation, queue = None, [req("big", 4, at=0)]
    for n in range(1, 5):
        queue.append(req(f"s{n}", 1, at=n))
        running.pop(0)
        decisions = run([host("a", 4, used=tuple(running))], queue, reservation=reservation)
        assert not {f"s{i}" for i in range(1, 5)} & set(placed(decisions))
        reservation = decisions.reservation
        queue = [r for r in queue if r.id not in placed(decisions)]
    assert "big" in placed(decisions)  # the pass after its host's last unit ended


def test_the_reservation_stays_on_its_hosts_from_pass_to_pass():
    # b has become the emptier host, but a was reserved first: moving would restart the wait.
    hosts = [host("a", 4, used=(0, 1, 2)), host("b", 4, used=(0,))]
    reservation = Reservation("big", ("a",))
    decisions = run(hosts, [req("big", 4), req("s", 1, at=1)], reservation=reservation)
    assert decisions.reservation == reservation
    assert placed(decisions) == {"s": (Placement("b", (1,)),)}


def test_a_reservation_on_a_host_gone_offline_is_made_again():
    hosts = [host("a", 4, used=(0,), online=False), host("b", 4, used=(0, 1))]
    decisions = run(hosts, [req("big", 4)], reservation=Reservation("big", ("a",)))
    assert decisions.reservation == Reservation("big", ("b",))


def test_higher_priority_takes_the_head_and_the_reserved_room():
    hosts = [host("a", 4, used=(0, 1))]
    reservation = Reservation("big", ("a",))
    decisions = run(hosts, [req("big", 4), req("vip", 3, priority=1, at=1)],
                    reservation=reservation)
    assert decisions.reservation == Reservation("vip", ("a",))
    decisions = run(hosts, [req("big", 4), req("vip", 2, priority=1, at=1)],
                    reservation=reservation)
    assert set(placed(decisions)) == {"vip"}


def test_the_heads_owner_cannot_spend_the_quota_the_head_needs():
    hosts = [host("a", 4, used=(0, 1)), host("b", 4)]
    queue = [req("big", 4, owner="ann", at=1), req("small", 1, owner="ann", at=2)]
    decisions = run(hosts, queue, quotas={"ann": 4}, usage={"ann": 0},
                    reservation=Reservation("big", ("a",)))
    assert "big" in placed(decisions)  # b is free now, so the head goes there
    decisions = run([host("a", 4, used=(0, 1)), host("b", 4, used=(0, 1))], queue,
                    quotas={"ann": 4}, usage={"ann": 0}, reservation=Reservation("big", ("a",)))
    # b has room for the small request; ann's quota has none beyond the head's 4 GPUs.
    assert waiting(decisions)["small"] == (
        2, "quota: 4 GPUs, 0 in use, 4 held for position 1")


def test_a_request_that_could_never_fit_is_not_the_head():
    decisions = run([host("a", 4, used=(0,))], [req("huge", 8, at=1), req("big", 4, at=2),
                                                 req("s", 1, at=3)])
    assert decisions.reservation == Reservation("big", ("a",))
    assert waiting(decisions)["huge"] == (1, "needs 8 GPUs on one host; largest host has 4")


def test_the_head_goes_where_it_is_reserved_when_a_greedy_try_finds_nothing():
    head = Request("head", "ann", 0, 0.0, (UnitRequest(2, 1), UnitRequest(1, 8)))
    busy = HostView("a", True, (0, 1), frozenset({0, 1}), cpus=8, cpus_used=2)
    decisions = run([busy, host("b", 2, cpus=1)], [head])
    assert decisions.reservation == Reservation("head", ("b", "a"))
    # a is idle now. Taking the tightest host first, the 2-GPU unit would go to a and leave
    # the 8-CPU unit nowhere; the reservation knows better.
    decisions = run([host("a", 2, cpus=8), host("b", 2, cpus=1)], [head],
                    reservation=decisions.reservation)
    assert placed(decisions) == {"head": (Placement("b", (0, 1)), Placement("a", (0,)))}
