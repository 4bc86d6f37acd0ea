"""Scheduling passes over random histories of a lab: a hypothesis state machine.

Each step changes the lab as the world would (a host joins, goes offline or leaves, a user
submits a request, a unit or a whole workload ends, the control plane restarts) and then the
scheduler makes one pass, whose decisions are applied. After every pass:

- no GPU is given to two units, nor one its host lacks; nothing goes to an offline host; no
  host gives out more CPUs or memory than it has;
- every queued request is decided once: placed whole (each unit its own GPUs, as many as it
  asked for) or left waiting, at positions 1, 2, ... with a reason;
- no user holds more GPUs than the quota;
- freed GPUs are reused: a one-unit request that waits for room does not fit in what the
  pass left (less what is held for the head, when it must yield to the head);
- no deadlock: when the online hosts were idle, someone waiting for room means someone
  else was placed;
- no request waits past the bound documented in ``dllab.scheduler.queue``;
- a restart, all state rebuilt from plain JSON with its rows in another order, decides
  exactly as before.

A second test drives the same lab through the histories where starvation would show:
large requests among a stream of small ones, and units ending. Both are derandomized, so CI
runs the same histories every time; ``--hypothesis-show-statistics`` shows how often the
bound was put to the test.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections import defaultdict
from dataclasses import dataclass

from hypothesis import event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

from dllab.scheduler.placement import NOTHING, HostView, Need, Policy, Rooms, UnitRequest, assign
from dllab.scheduler.queue import Decisions, Request, Reservation, queue_order, schedule

OWNERS = ("ann", "bob", "cy")
NAMES = ("h0", "h1", "h2", "h3")
units_asked = st.builds(UnitRequest, st.integers(0, 4), st.sampled_from([0.0, 2.0, 4.0]),
                        st.sampled_from([0, 4096]))


@dataclass
class Host:
    gpus: int
    cpus: int | None
    memory_mib: int | None
    online: bool = True


@dataclass(frozen=True)
class Unit:
    request: str
    owner: str
    host: str
    gpus: tuple[int, ...]
    cpus: float
    memory_mib: int


@dataclass
class Watch:
    """The head, watched for the bound: placed once the units it waits for have ended."""

    head: Request
    hosts: frozenset[str]
    waits_for: frozenset[str]  # units running on its hosts when it became the head
    disturbed: bool = False  # by what the bound excepts: then it counts anew


class Lab(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.hosts: dict[str, Host] = {}
        self.units: dict[str, Unit] = {}
        self.queue: dict[str, Request] = {}
        self.quotas: dict[str, int | None] = {}
        self.reservation: Reservation | None = None
        self.counter = 0
        self.watch: Watch | None = None

    @initialize(quotas=st.fixed_dictionaries({o: st.none() | st.integers(0, 8) for o in OWNERS}),
                gpus=st.lists(st.integers(1, 8), min_size=1, max_size=3))
    def start(self, quotas: dict[str, int | None], gpus: list[int]) -> None:
        self.quotas = quotas
        self.hosts = {NAMES[n]: Host(size, None, None) for n, size in enumerate(gpus)}

    @rule(name=st.sampled_from(NAMES), gpus=st.integers(0, 8),
          cpus=st.sampled_from([None, 4, 8]), memory=st.sampled_from([None, 8192]))
    def join(self, name: str, gpus: int, cpus: int | None, memory: int | None) -> None:
        if name in self.hosts:
            self.hosts[name].online = True
        else:
            self.hosts[name] = Host(gpus, cpus, memory)
        self.step()

    @rule(name=st.sampled_from(NAMES), dead=st.booleans())
    def lose_host(self, name: str, dead: bool) -> None:
        if dead:  # declared dead: it leaves, and its units are gone
            self.hosts.pop(name, None)
            self.units = {k: u for k, u in self.units.items() if u.host != name}
        elif name in self.hosts:
            self.hosts[name].online = False  # its units hold their GPUs meanwhile
        self.step()

    @rule(owner=st.sampled_from(OWNERS), priority=st.integers(0, 2),
          units=st.lists(units_asked, min_size=1, max_size=3), policy=st.sampled_from(Policy))
    def submit(self, owner: str, priority: int, units: list[UnitRequest],
               policy: Policy) -> None:
        self.counter += 1
        request = Request(f"r{self.counter}", owner, priority, float(self.counter),
                          tuple(units), policy)
        self.queue[request.id] = request
        self.step()

    @rule(owner=st.sampled_from(OWNERS), gpus=st.integers(0, 2))
    def submit_small(self, owner: str, gpus: int) -> None:
        """The stream of small requests that must not starve a large one."""
        self.submit(owner, 0, [UnitRequest(gpus)], Policy.pack)

    @rule(pick=st.integers(0, 99))
    def end_unit(self, pick: int) -> None:
        if self.units:
            del self.units[sorted(self.units)[pick % len(self.units)]]
        self.step()

    @rule(pick=st.integers(0, 99))
    def end_workload(self, pick: int) -> None:
        if self.units:
            workloads = sorted({u.request for u in self.units.values()})
            gone = workloads[pick % len(workloads)]
            self.units = {k: u for k, u in self.units.items() if u.request != gone}
        self.step()

    @rule(rng=st.randoms(use_true_random=False))
    def restart(self, rng: random.Random) -> None:
        before = schedule(*self.inputs())
        self.load(json.loads(json.dumps(self.dump())), rng)
        assert schedule(*self.inputs()) == before
        self.step()

    # --- the plain data a database would keep -------------------------------------------

    def dump(self) -> dict:
        return {"hosts": {n: dataclasses.asdict(h) for n, h in self.hosts.items()},
                "units": {k: dataclasses.asdict(u) for k, u in self.units.items()},
                "queue": [dataclasses.asdict(r) for r in self.queue.values()],
                "quotas": self.quotas,
                "reservation": self.reservation and dataclasses.asdict(self.reservation)}

    def load(self, data: dict, rng: random.Random) -> None:
        def shuffled(items: list) -> list:
            rng.shuffle(items)  # rows come back from a database in no promised order
            return items

        self.hosts = {n: Host(**h) for n, h in shuffled(list(data["hosts"].items()))}
        self.units = {k: Unit(**{**u, "gpus": tuple(u["gpus"])})
                      for k, u in shuffled(list(data["units"].items()))}
        self.queue = {r["id"]: Request(r["id"], r["owner"], r["priority"], r["submitted_at"],
                                       tuple(UnitRequest(**u) for u in r["units"]),
                                       Policy(r["policy"]))
                      for r in shuffled(data["queue"])}
        self.quotas = data["quotas"]
        saved = data["reservation"]
        self.reservation = saved and Reservation(saved["request"], tuple(saved["hosts"]))

    def inputs(self) -> tuple[list[HostView], list[Request], dict[str, int | None],
                              dict[str, int], Reservation | None]:
        gpus, cpus, memory = defaultdict(set), defaultdict(float), defaultdict(int)
        usage: dict[str, int] = defaultdict(int)
        for unit in self.units.values():
            gpus[unit.host].update(unit.gpus)
            cpus[unit.host] += unit.cpus
            memory[unit.host] += unit.memory_mib
            usage[unit.owner] += len(unit.gpus)
        views = [HostView(n, h.online, tuple(range(h.gpus)), frozenset(gpus[n]), h.cpus,
                          cpus[n], h.memory_mib, memory[n]) for n, h in self.hosts.items()]
        return views, list(self.queue.values()), self.quotas, dict(usage), self.reservation

    # --- one pass and its checks --------------------------------------------------------

    def step(self) -> None:
        hosts, queue, quotas, usage, reservation = self.inputs()
        due = self.due()
        idle = not any(self.hosts[u.host].online for u in self.units.values())
        decisions = schedule(hosts, queue, quotas, usage, reservation)
        self.check_decided(decisions)
        before = set(self.units)
        for placed in decisions.placed:
            request = self.queue.pop(placed.request)
            for n, (unit, where) in enumerate(zip(request.units, placed.placements, strict=True)):
                assert len(where.gpus) == unit.gpus
                assert self.hosts[where.host].online
                self.units[f"{request.id}.{n}"] = Unit(request.id, request.owner, where.host,
                                                       where.gpus, unit.cpus, unit.memory_mib)
        self.check_world()
        self.check_waiting(decisions, idle)
        if decisions.reservation:
            event("a head holds a reservation")
        self.disturb(decisions, queue)
        if due is not None and self.watch is not None and not self.watch.disturbed:
            event("the bound said: place the head now")
            assert due in {p.request for p in decisions.placed}, f"{due} waited past the bound"
        self.follow(decisions, queue_order(queue, reservation), before)
        self.reservation = decisions.reservation

    def check_decided(self, decisions: Decisions) -> None:
        decided = [p.request for p in decisions.placed] + [w.request for w in decisions.waiting]
        assert sorted(decided) == sorted(self.queue)
        assert [w.position for w in decisions.waiting] == list(range(1, len(decisions.waiting) + 1))
        assert all(w.reason for w in decisions.waiting)
        if decisions.reservation is not None:
            assert decisions.reservation.request in {w.request for w in decisions.waiting}

    def check_world(self) -> None:
        given = [(u.host, g) for u in self.units.values() for g in u.gpus]
        assert len(given) == len(set(given)), "a GPU given twice"
        for host, gpu in given:
            assert gpu < self.hosts[host].gpus
        for name, host in self.hosts.items():
            here = [u for u in self.units.values() if u.host == name]
            if host.cpus is not None:
                assert sum(u.cpus for u in here) <= host.cpus
            if host.memory_mib is not None:
                assert sum(u.memory_mib for u in here) <= host.memory_mib
        for owner, quota in self.quotas.items():
            if quota is not None:
                assert sum(len(u.gpus) for u in self.units.values() if u.owner == owner) <= quota

    def check_waiting(self, decisions: Decisions, idle: bool) -> None:
        hosts, *_ = self.inputs()
        left = Rooms(hosts)
        head = decisions.reservation and self.queue[decisions.reservation.request]
        for waiting in decisions.waiting:
            request = self.queue[waiting.request]
            if not for_room(waiting.reason):
                continue
            assert not idle or decisions.placed, "idle hosts, and no one placed"
            if len(request.units) > 1:
                continue  # greedy over several units need not find room a smarter try would
            yields = head is not None and head is not request and request.priority <= head.priority
            holds = held(head, decisions.reservation) if yields else {}
            assert assign(left, request.units, request.policy, holds).hosts is None, waiting

    def due(self) -> str | None:
        """The head the bound says this pass must place, if any."""
        watch = self.watch
        if watch is None:
            return None
        if any(h not in self.hosts or not self.hosts[h].online for h in watch.hosts):
            watch.disturbed = True
        if watch.disturbed or watch.waits_for & self.units.keys():
            return None
        return watch.head.id

    def disturb(self, decisions: Decisions, queue: list[Request]) -> None:
        """Note what the bound excepts: higher priority placed on the head's hosts or quota."""
        watch, requests = self.watch, {r.id: r for r in queue}
        for placed in decisions.placed:
            other = requests[placed.request]
            if watch is not None and other.priority > watch.head.priority and (
                    other.owner == watch.head.owner
                    or any(where.host in watch.hosts for where in placed.placements)):
                watch.disturbed = True

    def follow(self, decisions: Decisions, order: list[Request], before: set[str]) -> None:
        watch, new = self.watch, decisions.reservation
        placed = {p.request: p for p in decisions.placed}
        requests = {r.id: r for r in order}
        if watch is not None and watch.head.id in placed:
            watch = None
        if watch is not None:
            if new is None or new.request != watch.head.id or set(new.hosts) != watch.hosts:
                assert watch.disturbed or (
                    new is not None and requests[new.request].priority > watch.head.priority
                ), f"the reservation of {watch.head.id} moved without cause"
                watch = None
            elif watch.disturbed:
                watch = None  # the bound counts anew from here
        if watch is None and new is not None:
            ids = [r.id for r in order]
            ahead = set(ids[:ids.index(new.request)])
            hosts = frozenset(new.hosts)
            watch = Watch(requests[new.request], hosts, frozenset(
                k for k, u in self.units.items()
                if u.host in hosts and (k in before or u.request in ahead)))
        self.watch = watch


def for_room(reason: str) -> bool:
    """Whether a reason is a wait for room (not for quota, nor for hosts that cannot fit)."""
    return not (reason.startswith("quota") or reason == "no online host"
                or "largest host has" in reason or "even empty" in reason)


def held(head: Request, reservation: Reservation) -> dict[str, Need]:
    holds: dict[str, Need] = {}
    for unit, host in zip(head.units, reservation.hosts, strict=True):
        holds[host] = holds.get(host, NOTHING) + unit
    return holds


Lab.TestCase.settings = settings(derandomize=True, max_examples=150, stateful_step_count=50,
                                 deadline=None)
TestLab = Lab.TestCase

# Where starvation would show: large requests among a stream of small ones, units ending.
busy_lab_steps = st.lists(st.one_of(
    st.tuples(st.just("small"), st.sampled_from(OWNERS), st.integers(1, 2)),
    st.tuples(st.just("large"), st.sampled_from(OWNERS), st.integers(3, 8), st.integers(0, 1)),
    st.tuples(st.just("end"), st.integers(0, 99)),
    st.tuples(st.just("end"), st.integers(0, 99)),
), min_size=20, max_size=60)


@settings(derandomize=True, max_examples=200, deadline=None)
@given(st.fixed_dictionaries({o: st.none() | st.integers(4, 12) for o in OWNERS}),
       st.lists(st.integers(1, 8), min_size=1, max_size=3), busy_lab_steps)
def test_no_head_waits_past_the_bound_in_a_busy_lab(quotas, gpus, steps):
    lab = Lab()
    lab.start(quotas, gpus)
    for kind, *args in steps:
        if kind == "small":
            lab.submit_small(*args)
        elif kind == "large":
            owner, size, priority = args
            lab.submit(owner, priority, [UnitRequest(size)], Policy.pack)
        else:
            lab.end_unit(*args)
