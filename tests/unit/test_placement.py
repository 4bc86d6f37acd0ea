"""``dllab.scheduler.placement``: pure functions over hosts, tested with tables."""

from __future__ import annotations

from itertools import combinations

import pytest

from dllab.scheduler.placement import (
    HostView,
    Placement,
    Policy,
    Room,
    Rooms,
    UnitRequest,
    assign,
    fits,
    score,
    why,
)


def place(hosts: list[HostView], gpus: int) -> Placement | None:
    """One unit of ``gpus`` GPUs, packed; None when no online host has them free."""
    units = (UnitRequest(gpus),)
    rooms = Rooms(hosts)
    attempt = assign(rooms, units, Policy.pack)
    return None if attempt.hosts is None else rooms.take(units, attempt.hosts)[0]


def why_not(hosts: list[HostView], gpus: int) -> str:
    """In words, why ``place`` found nothing."""
    units = (UnitRequest(gpus),)
    rooms = Rooms(hosts)
    ever = assign(rooms, units, Policy.pack, whole=True)
    if ever.hosts is None:
        return why(rooms, ever, 1, whole=True)
    return why(rooms, assign(rooms, units, Policy.pack), 1)


def host(name: str, gpus: int = 4, used: tuple[int, ...] = (), online: bool = True,
         indices: tuple[int, ...] | None = None) -> HostView:
    return HostView(name=name, online=online,
                    gpus=indices if indices is not None else tuple(range(gpus)),
                    used=frozenset(used))


@pytest.mark.parametrize("hosts, gpus, expected", [
    # One host: the lowest free GPUs, skipping used ones.
    ([host("a")], 2, Placement("a", (0, 1))),
    ([host("a", used=(0, 2))], 2, Placement("a", (1, 3))),
    ([host("a", used=(1,))], 3, Placement("a", (0, 2, 3))),
    # Physical indices need not start at 0 or be contiguous.
    ([host("a", indices=(2, 5, 7))], 2, Placement("a", (2, 5))),
    # Packing: the host left with the fewest free GPUs wins.
    ([host("a", 8), host("b", 4)], 4, Placement("b", (0, 1, 2, 3))),
    ([host("a", 4), host("b", 4, used=(0, 1))], 2, Placement("b", (2, 3))),
    ([host("a", 4, used=(0,)), host("b", 2)], 1, Placement("b", (0,))),
    # ... but only among hosts that fit.
    ([host("a", 4), host("b", 4, used=(0, 1, 2))], 2, Placement("a", (0, 1))),
    # Offline hosts are never chosen, however well they would pack.
    ([host("a", 8), host("b", 2, online=False)], 2, Placement("a", (0, 1))),
    # Zero GPUs is a valid request: placed on an online host, with no GPU.
    ([host("a", 0)], 0, Placement("a", ())),
    ([host("a", 4, used=(0, 1, 2, 3))], 0, Placement("a", ())),
    ([host("a", 2, online=False), host("b", 0)], 0, Placement("b", ())),
    # Nothing fits.
    ([], 0, None),
    ([], 1, None),
    ([host("a", 4, online=False)], 0, None),
    ([host("a", 4, used=(0, 1, 2))], 2, None),
    ([host("a", 2), host("b", 2)], 3, None),
])
def test_place(hosts, gpus, expected):
    assert place(hosts, gpus) == expected


def test_ties_are_broken_by_name_so_placement_is_deterministic():
    hosts = [host("a"), host("b"), host("c")]
    chosen = place(hosts, 1)
    assert chosen is not None
    assert place(list(reversed(hosts)), 1) == chosen


def room(view: HostView) -> Room:
    (only,) = Rooms([view]).all
    return only


@pytest.mark.parametrize("view, unit, expected", [
    (host("a", 4), UnitRequest(4), True),
    (host("a", 4), UnitRequest(5), False),
    (host("a", 4, used=(3,)), UnitRequest(4), False),
    (host("a", 0), UnitRequest(0), True),
    # CPUs and memory count where the host reports them, and only there.
    (HostView("a", True, (0,), frozenset(), cpus=8, cpus_used=6), UnitRequest(0, 2), True),
    (HostView("a", True, (0,), frozenset(), cpus=8, cpus_used=6), UnitRequest(0, 3), False),
    (HostView("a", True, (), frozenset(), memory_mib=1024), UnitRequest(0, 0, 1024), True),
    (HostView("a", True, (), frozenset(), memory_mib=1024), UnitRequest(0, 0, 1025), False),
    (host("a", 4), UnitRequest(1, 512, 10**9), True),
])
def test_fits_is_a_hard_constraint(view, unit, expected):
    assert fits(room(view), unit) is expected


def test_offline_hosts_have_no_room_at_all():
    assert Rooms([host("a", online=False), host("b", 0, online=False)]).all == []


def test_score_prefers_the_host_left_fuller():
    unit = UnitRequest(2)
    assert (score(room(host("a", 2)), unit, Policy.pack)
            > score(room(host("b", 4)), unit, Policy.pack)
            > score(room(host("c", 8)), unit, Policy.pack))


@pytest.mark.parametrize("total, used, request_sizes", [
    (4, (), (1, 1, 2)),
    (8, (3,), (2, 2, 2, 1)),
    (4, (0, 1, 2, 3), (0, 0)),
])
def test_successive_placements_never_reuse_a_gpu(total, used, request_sizes):
    view = host("a", total, used=used)
    given: list[tuple[int, ...]] = []
    for size in request_sizes:
        placement = place([view], size)
        assert placement is not None
        assert len(placement.gpus) == size
        assert not set(placement.gpus) & view.used
        given.append(placement.gpus)
        view = host("a", total, used=tuple(view.used | set(placement.gpus)))
    for first, second in combinations(given, 2):
        assert not set(first) & set(second)


@pytest.mark.parametrize("hosts, gpus, message", [
    ([], 1, "no online host"),
    ([host("a", online=False)], 1, "no online host"),
    ([host("a", 4, used=(0, 1, 2, 3))], 1, "needs 1 GPU on one host; largest free block is 0"),
    ([host("a", 2), host("b", 4, used=(0,)), host("c", 8, online=False)], 4,
     "needs 4 GPUs on one host; largest free block is 3"),
    # More than any online host has, free or not: waiting will not help.
    ([host("a", 4, used=(0,)), host("c", 8, online=False)], 5,
     "needs 5 GPUs on one host; largest host has 4"),
])
def test_why_not(hosts, gpus, message):
    assert place(hosts, gpus) is None
    assert why_not(hosts, gpus) == message
