"""``dllab.scheduler.placement`` beyond one unit: policies, gangs, the index, properties.

Hypothesis runs derandomized (the same examples every run), so CI is deterministic.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dllab.scheduler.placement import (
    NOTHING,
    HostView,
    Need,
    Policy,
    Rooms,
    UnitRequest,
    assign,
    fits,
    score,
)

SETTINGS = settings(derandomize=True, max_examples=150, deadline=None)


@st.composite
def host_views(draw: st.DrawFn) -> list[HostView]:
    views = []
    for n in range(draw(st.integers(0, 7))):
        size = draw(st.integers(0, 8))
        cpus = draw(st.sampled_from([None, 4, 16]))
        memory = draw(st.sampled_from([None, 4096]))
        views.append(HostView(
            f"h{n}", draw(st.booleans() | st.just(True)), tuple(range(size)),
            frozenset(draw(st.sets(st.integers(0, size - 1))) if size else ()),
            cpus, draw(st.integers(0, cpus)) if cpus else 0.0,
            memory, draw(st.sampled_from([0, 2048, 4096])) if memory else 0))
    return draw(st.permutations(views))


unit_requests = st.builds(UnitRequest, st.integers(0, 4), st.sampled_from([0.0, 1.0, 4.0]),
                          st.sampled_from([0, 1024]))
policies = st.sampled_from(Policy)


def fill(rooms: Rooms, units: list[UnitRequest]) -> None:
    """Place some units first, so that the index is tested after it has changed."""
    for unit in units:
        attempt = assign(rooms, (unit,), Policy.pack)
        if attempt.hosts is not None:
            rooms.take((unit,), attempt.hosts)


def looking_at_every_host(rooms: Rooms, unit: UnitRequest, policy: Policy,
                          holds: dict[str, Need]) -> str | None:
    fitting = [r for r in rooms.all if fits(r, unit, holds.get(r.name, NOTHING))]
    if not fitting:
        return None
    return min(fitting, key=lambda r: (
        tuple(-s for s in score(r, unit, policy, holds.get(r.name, NOTHING))), r.name)).name


@SETTINGS
@given(host_views(), st.lists(unit_requests, max_size=8), unit_requests, policies,
       st.dictionaries(st.sampled_from([f"h{n}" for n in range(7)]),
                       st.builds(Need, st.integers(0, 4)), max_size=2))
def test_the_index_finds_the_host_a_full_scan_would(views, before, unit, policy, holds):
    rooms = Rooms(views)
    fill(rooms, before)
    holds = {name: need for name, need in holds.items() if name in rooms.by_name}
    attempt = assign(rooms, (unit,), policy, holds)
    expected = looking_at_every_host(rooms, unit, policy, holds)
    assert (attempt.hosts[0] if attempt.hosts else None) == expected


@SETTINGS
@given(host_views(), st.lists(unit_requests, min_size=1, max_size=5), policies)
def test_an_assignment_never_asks_a_host_for_more_than_it_has(views, units, policy):
    rooms = Rooms(views)
    attempt = assign(rooms, units, policy)
    if attempt.hosts is None:
        return
    taken: dict[str, Need] = {}
    for unit, name in zip(units, attempt.hosts, strict=True):
        taken[name] = taken.get(name, NOTHING) + unit
    for name, need in taken.items():
        assert fits(rooms.by_name[name], need), (name, need)
    placements = rooms.take(units, attempt.hosts)
    given_out = [(p.host, g) for p in placements for g in p.gpus]
    assert len(given_out) == len(set(given_out)) == sum(u.gpus for u in units)


@SETTINGS
@given(host_views(), unit_requests, st.integers(1, 5))
def test_spread_uses_as_many_hosts_as_it_can(views, unit, replicas):
    rooms = Rooms(views)
    attempt = assign(rooms, (unit,) * replicas, Policy.spread)
    if attempt.hosts is not None:
        with_room = sum(fits(room, unit) for room in rooms.all)
        assert len(set(attempt.hosts)) == min(replicas, with_room)


@SETTINGS
@given(host_views(), st.lists(unit_requests, min_size=1, max_size=4))
def test_pack_keeps_a_request_on_one_host_when_one_host_can_take_it(views, units):
    rooms = Rooms(views)
    together = sum(units, NOTHING)
    attempt = assign(rooms, units, Policy.pack)
    if any(fits(room, together) for room in rooms.all):
        assert attempt.hosts is not None and len(set(attempt.hosts)) == 1


def test_pack_fills_the_fullest_host_that_fits_and_spread_the_emptiest():
    views = [HostView("a", True, tuple(range(8)), frozenset(range(5))),
             HostView("b", True, tuple(range(8)), frozenset()),
             HostView("c", True, tuple(range(2)), frozenset())]
    assert assign(Rooms(views), (UnitRequest(2),), Policy.pack).hosts == ["c"]
    assert assign(Rooms(views), (UnitRequest(2),) * 3, Policy.spread).hosts == ["c", "a", "b"]
    # A job too big for any one host: the first replica takes the tightest fit, the others
    # follow a sibling where they can.
    assert assign(Rooms(views), (UnitRequest(3),) * 3, Policy.pack).hosts == ["a", "b", "b"]


def test_largest_units_are_placed_first_and_answers_keep_the_requests_order():
    views = [HostView("a", True, tuple(range(4)), frozenset()),
             HostView("b", True, tuple(range(2)), frozenset())]
    # Smallest first would put the 1 on b (tightest), the 2 on a, and leave the 3 nowhere.
    assert assign(Rooms(views), (UnitRequest(1), UnitRequest(3), UnitRequest(2)),
                  Policy.pack).hosts == ["a", "a", "b"]
