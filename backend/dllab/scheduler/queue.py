"""The queue: requests placed whole or not at all, quotas, and a bound on waiting.

A ``Request`` is every unit of one workload: an environment's one unit, a job's replicas,
a service's replicas. ``schedule`` makes one pass over the hosts and the queue and returns
``Decisions``: the requests placed (a ``Placement`` per unit) and, for every request left
waiting, its position and why, in words. Pure: the caller loads hosts, queue, quotas, usage
and the last pass's reservation, applies the decisions and keeps the new reservation.

Order: priority (higher first), then submission time, then id, so that every pass, and
every pass after a restart, decides alike. The head (below) goes first within its priority.
Each request sees what the requests before it in the same pass took.

Gangs: a request is placed only when all its units are. A waiting request holds nothing,
so two waiting requests can never each hold what the other needs: no deadlock, by design.

Quotas: a user's GPUs in use plus a request's never exceed the user's quota (absent or
``None``: unlimited). A request over quota waits and blocks no one: it cannot be the head.

No starvation: reservation with backfill. The head is the first request, in order, that
waits for room: not for quota, and not one that could not fit the online hosts even were
they empty. It gets a ``Reservation``, a host per unit, chosen among all the hosts have
(free or not), preferring the fewest busy GPUs to wait for. While it stands, requests of the
same or a lower priority may take on a reserved host only the GPUs, CPUs and memory beyond
what the head needs there, and of its owner's quota only what is beyond the head's GPUs.
The reservation returns with the decisions and the caller hands it to the next pass; it
stands until the head is placed, while its hosts stay online. A request of higher priority
that waits for room becomes the head instead.

The bound: a request that becomes the head is placed, at the latest, in the first pass after
every unit that was running on its reserved hosts when it became the head has ended. Unless,
before then, a request of higher priority becomes the head, or is placed on a reserved host
or for the same owner, or a reserved host goes offline or leaves: then the reservation is
made anew and the bound counts from there. Why: on a reserved host nothing of the same or
lower priority is placed until what is free covers the head's need, and nothing after that
leaves less; the head's need fits the host; so once those units end, the need is free on
every reserved host and the head, first in its priority, is placed there if not elsewhere.
A request behind the head has no bound of its own until it is the head.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from dllab.scheduler.placement import (
    NOTHING,
    HostView,
    Need,
    Placement,
    Policy,
    Rooms,
    UnitRequest,
    assign,
    count,
    fits,
    why,
)


@dataclass(frozen=True)
class Request:
    id: str
    owner: str
    priority: int
    submitted_at: float  # seconds on any one clock
    units: tuple[UnitRequest, ...]
    policy: Policy = Policy.pack

    @property
    def gpus(self) -> int:
        return sum(u.gpus for u in self.units)


@dataclass(frozen=True)
class Reservation:
    request: str
    hosts: tuple[str, ...]  # one per unit, in the request's order


@dataclass(frozen=True)
class Placed:
    request: str
    placements: tuple[Placement, ...]  # one per unit, in the request's order


@dataclass(frozen=True)
class Waiting:
    request: str
    position: int  # 1 for the first request left waiting
    reason: str


@dataclass(frozen=True)
class Decisions:
    placed: tuple[Placed, ...]  # in queue order
    waiting: tuple[Waiting, ...]  # in queue order
    reservation: Reservation | None  # hand it to the next pass


def queue_order(queue: Iterable[Request], reservation: Reservation | None) -> list[Request]:
    head = reservation.request if reservation else None
    return sorted(queue, key=lambda r: (-r.priority, r.id != head, r.submitted_at, r.id))


def schedule(hosts: Iterable[HostView], queue: Iterable[Request],
             quotas: Mapping[str, int | None], usage: Mapping[str, int],
             reservation: Reservation | None = None) -> Decisions:
    """One pass. ``usage``: GPUs held by each owner's units that have not ended."""
    scheduling = SchedulingPass(hosts, queue, quotas, usage, reservation)
    for request in scheduling.order:
        scheduling.decide(request)
    return scheduling.decisions()


class SchedulingPass:
    """``schedule`` step by step: ``decide`` each request of ``order``, in that order, then
    ``decisions``. Owns mutable rooms; lives for one pass."""

    def __init__(self, hosts: Iterable[HostView], queue: Iterable[Request],
                 quotas: Mapping[str, int | None], usage: Mapping[str, int],
                 reservation: Reservation | None = None) -> None:
        self._rooms = Rooms(hosts)
        self._quotas = quotas
        self._usage = dict(usage)
        self.order = queue_order(queue, reservation)
        self._placed: list[Placed] = []
        self._waiting: list[Waiting] = []
        self._ever: dict[tuple[tuple[UnitRequest, ...], Policy], list[str] | None] = {}
        self._head: Request | None = None
        self._reserved: tuple[str, ...] = ()
        self._holds: dict[str, Need] = {}
        self._head_position = 0
        if reservation is not None:
            holder = next((r for r in self.order if r.id == reservation.request), None)
            if holder is not None and self._standing(holder, reservation.hosts):
                self._hold(holder, reservation.hosts)

    def decide(self, request: Request) -> Placed | Waiting:
        head = self._head
        is_head = head is not None and request.id == head.id
        # Requests of the same or a lower priority than the head must leave it its share.
        yields = head is not None and not is_head and request.priority <= head.priority
        over = self._over_quota(request, yields)
        if over:
            if is_head:
                self._release()
            return self._wait(request, over)
        holds = self._holds if yields else {}
        attempt = assign(self._rooms, request.units, request.policy, holds)
        hosts = attempt.hosts
        if hosts is None and is_head and self._ready():
            hosts = list(self._reserved)
        if hosts is not None:
            return self._place(request, hosts)
        # Some requests could never fit; not the head, whose reservation says where it would.
        if not is_head and self._ever_hosts(request) is None:
            ever = assign(self._rooms, request.units, request.policy, whole=True)
            return self._wait(request, why(self._rooms, ever, len(request.units), whole=True))
        if head is None or (not is_head and request.priority > head.priority):
            soonest = assign(self._rooms, request.units, request.policy, whole=True).hosts
            # Greedy, so it may miss where the first try (other preferences) found room.
            reserved = soonest or self._ever_hosts(request)
            assert reserved is not None
            self._hold(request, reserved)
        reason = why(self._rooms, attempt, len(request.units), holds)
        if holds and assign(self._rooms, request.units, request.policy).hosts is not None:
            reason += f" (more are held for position {self._head_position})"
        return self._wait(request, reason)

    def decisions(self) -> Decisions:
        reservation = (Reservation(self._head.id, self._reserved) if self._head is not None
                       else None)
        return Decisions(tuple(self._placed), tuple(self._waiting), reservation)

    def _over_quota(self, request: Request, yields: bool) -> str | None:
        quota = self._quotas.get(request.owner)
        if quota is None or request.gpus == 0:
            return None
        used = self._usage.get(request.owner, 0)
        head = self._head
        held = head.gpus if yields and head is not None and head.owner == request.owner else 0
        if used + held + request.gpus <= quota:
            return None
        if request.gpus > quota:
            return f"quota: {count(quota, 'GPU')}; needs {request.gpus} at once"
        if held:
            return (f"quota: {count(quota, 'GPU')}, {used} in use, {held} held for position "
                    f"{self._head_position}")
        return f"quota: {count(quota, 'GPU')}, {used} in use"

    def _ever_hosts(self, request: Request) -> list[str] | None:
        """Hosts the request would fit were they empty; None if it never could."""
        key = (request.units, request.policy)
        if key not in self._ever:
            self._ever[key] = assign(self._rooms, request.units, request.policy,
                                     whole=True).hosts
        return self._ever[key]

    def _standing(self, holder: Request, hosts: Sequence[str]) -> bool:
        """Whether a reservation made in an earlier pass still stands: same units, hosts
        still online and big enough."""
        if len(hosts) != len(holder.units) or not all(h in self._rooms.by_name for h in hosts):
            return False
        return all(fits(self._rooms.by_name[h], need, whole=True)
                   for h, need in _needs(holder.units, hosts).items())

    def _ready(self) -> bool:
        """Whether every reserved host has the head's need free."""
        assert self._head is not None
        return all(fits(self._rooms.by_name[h], need)
                   for h, need in _needs(self._head.units, self._reserved).items())

    def _hold(self, head: Request, hosts: Sequence[str]) -> None:
        self._head, self._reserved = head, tuple(hosts)
        self._holds = _needs(head.units, hosts)

    def _release(self) -> None:
        self._head, self._reserved, self._holds = None, (), {}

    def _place(self, request: Request, hosts: Sequence[str]) -> Placed:
        placed = Placed(request.id, self._rooms.take(request.units, hosts))
        self._usage[request.owner] = self._usage.get(request.owner, 0) + request.gpus
        if self._head is not None and request.id == self._head.id:
            self._release()
        self._placed.append(placed)
        return placed

    def _wait(self, request: Request, reason: str) -> Waiting:
        waiting = Waiting(request.id, len(self._waiting) + 1, reason)
        if self._head is not None and request.id == self._head.id:
            self._head_position = waiting.position
        self._waiting.append(waiting)
        return waiting


def _needs(units: Sequence[UnitRequest], hosts: Sequence[str]) -> dict[str, Need]:
    needs: dict[str, Need] = {}
    for unit, host in zip(units, hosts, strict=True):
        needs[host] = needs.get(host, NOTHING) + unit
    return needs
