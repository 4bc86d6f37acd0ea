"""Where units go: a host and the physical GPUs each one gets.

Plain data in: ``HostView`` (what a host has and what is in use) and ``UnitRequest`` (what
one unit needs). Plain data out: ``Placement``. Between them, a ``Room`` is what an online
host has left while one scheduling pass runs; the pass owns its rooms and ``take`` changes
them as units are placed.

``fits`` is the hard constraint (True/False), ``score`` the preference (higher is better);
``assign`` finds a host for every unit of a request, or says which unit found none.

Policies, both greedy, largest unit first (fewer dead ends), ties to the first host name:

- ``pack`` (jobs, environments): units that fit together on one host go there; otherwise
  each unit prefers a host that already has one of its siblings, then the host left with
  the fewest free GPUs. Hosts fill up before others are opened and large blocks stay whole.
- ``spread`` (service replicas): each unit prefers the host with the fewest of its
  siblings, then as ``pack``.

A unit's GPUs are always on one host. CPUs and memory count only on hosts that report them
(``None``: not accounted). ``whole=True`` asks the same questions of all that a host has,
free or not: could this ever fit, and where would it fit soonest (fewest busy GPUs to wait
for, as no unit has a known end).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

INF = float("inf")


class Policy(StrEnum):
    pack = "pack"
    spread = "spread"


@dataclass(frozen=True)
class UnitRequest:
    gpus: int = 0
    cpus: float = 0.0
    memory_mib: int = 0


@dataclass(frozen=True)
class HostView:
    name: str
    online: bool
    gpus: tuple[int, ...]  # physical indices the host has
    used: frozenset[int]  # indices held by units that have not ended
    cpus: float | None = None  # capacity; None: not reported, so not accounted
    cpus_used: float = 0.0
    memory_mib: int | None = None
    memory_used_mib: int = 0

    @property
    def free(self) -> list[int]:
        return [i for i in self.gpus if i not in self.used]


@dataclass(frozen=True)
class Placement:
    host: str
    gpus: tuple[int, ...]


@dataclass(frozen=True)
class Need:
    """What some units take, or are promised, on one host."""

    gpus: int = 0
    cpus: float = 0.0
    memory_mib: float = 0

    def __add__(self, other: UnitRequest | Need) -> Need:
        return Need(self.gpus + other.gpus, self.cpus + other.cpus,
                    self.memory_mib + other.memory_mib)

    def __sub__(self, other: Need) -> Need:
        return Need(self.gpus - other.gpus, self.cpus - other.cpus,
                    self.memory_mib - other.memory_mib)


NOTHING = Need()


@dataclass(slots=True)
class Room:
    """What one online host has left during a pass."""

    name: str
    free: list[int]  # free physical indices, in the host's order
    cpus: float
    memory_mib: float
    size: int  # all of the host's GPUs, free or not
    cpus_total: float
    memory_total: float


def rooms(hosts: Iterable[HostView]) -> list[Room]:
    """The rooms of the online hosts, by name: the order every tie is broken in."""
    return [Room(h.name, h.free,
                 INF if h.cpus is None else h.cpus - h.cpus_used,
                 INF if h.memory_mib is None else h.memory_mib - h.memory_used_mib,
                 len(h.gpus),
                 INF if h.cpus is None else h.cpus,
                 INF if h.memory_mib is None else h.memory_mib)
            for h in sorted(hosts, key=lambda h: h.name) if h.online]


def fits(room: Room, unit: UnitRequest | Need, minus: Need = NOTHING,
         whole: bool = False) -> bool:
    """Hard constraint: ``unit`` fits in what ``room`` has free (``whole``: in all the host
    has), less ``minus`` (siblings placed before it, what is held for another request).
    Only what the unit asks for counts: a unit without GPUs fits where others hold all
    the GPUs."""
    if whole:
        gpus, cpus, memory = room.size, room.cpus_total, room.memory_total
    else:
        gpus, cpus, memory = len(room.free), room.cpus, room.memory_mib
    return ((not unit.gpus or gpus - minus.gpus >= unit.gpus)
            and (not unit.cpus or cpus - minus.cpus >= unit.cpus)
            and (not unit.memory_mib or memory - minus.memory_mib >= unit.memory_mib))


def score(room: Room, unit: UnitRequest | Need, policy: Policy, minus: Need = NOTHING,
          siblings: int = 0, whole: bool = False) -> tuple[int, ...]:
    """Preference among hosts that fit: higher is better."""
    left = len(room.free) - minus.gpus - unit.gpus  # free GPUs left: fewer packs tighter
    near = -siblings if policy is Policy.spread else min(siblings, 1)
    # Whole: first the fewest busy GPUs to wait for (min(left, 0) is minus that count).
    return (min(left, 0), near, -left) if whole else (near, -left)


@dataclass
class Attempt:
    """How ``assign`` went: a host per unit, or the first unit that found none."""

    hosts: list[str] | None
    failed: UnitRequest | None = None
    fitted: int = 0  # units that found a host before ``failed``
    taken: dict[str, Need] = field(default_factory=dict)  # by the units that fitted


def assign(rooms: Sequence[Room], units: Sequence[UnitRequest], policy: Policy,
           holds: Mapping[str, Need] | None = None, whole: bool = False) -> Attempt:
    """A host for every unit (in the order of ``units``), or none. ``holds``: what each
    host must keep for another request. Changes nothing."""
    holds = holds or {}
    if policy is Policy.pack and len(units) > 1:
        together = sum(units, NOTHING)
        best = _best(rooms, together, policy, holds, {}, {}, whole)
        if best is not None:
            return Attempt([best.name] * len(units))
    taken: dict[str, Need] = {}
    siblings: dict[str, int] = {}
    hosts: list[str] = [""] * len(units)
    order = sorted(range(len(units)), reverse=True,
                   key=lambda i: (units[i].gpus, units[i].cpus, units[i].memory_mib))
    for n, i in enumerate(order):
        best = _best(rooms, units[i], policy, holds, taken, siblings, whole)
        if best is None:
            return Attempt(None, units[i], n, taken)
        hosts[i] = best.name
        taken[best.name] = taken.get(best.name, NOTHING) + units[i]
        siblings[best.name] = siblings.get(best.name, 0) + 1
    return Attempt(hosts)


def _best(rooms: Sequence[Room], unit: UnitRequest | Need, policy: Policy,
          holds: Mapping[str, Need], taken: Mapping[str, Need], siblings: Mapping[str, int],
          whole: bool) -> Room | None:
    best, best_score = None, ()
    for room in rooms:
        # Holds promise part of what is free now; the whole host is another question.
        minus = taken.get(room.name, NOTHING)
        if not whole and room.name in holds:
            minus = minus + holds[room.name]
        if fits(room, unit, minus, whole):
            s = score(room, unit, policy, minus, siblings.get(room.name, 0), whole)
            if best is None or s > best_score:
                best, best_score = room, s
    return best


def take(rooms: Mapping[str, Room], units: Sequence[UnitRequest],
         hosts: Sequence[str]) -> tuple[Placement, ...]:
    """Give each unit its host's first free GPUs, CPUs and memory; ``rooms`` by name."""
    placements = []
    for unit, name in zip(units, hosts, strict=True):
        room = rooms[name]
        gpus, room.free = tuple(room.free[:unit.gpus]), room.free[unit.gpus:]
        room.cpus -= unit.cpus
        room.memory_mib -= unit.memory_mib
        placements.append(Placement(name, gpus))
    return tuple(placements)


def why(rooms: Sequence[Room], attempt: Attempt, units: int,
        holds: Mapping[str, Need] | None = None, whole: bool = False) -> str:
    """In words, why ``attempt`` (made with the same arguments) placed nothing."""
    if not rooms:
        return "no online host"
    unit, holds = attempt.failed, holds or {}
    assert unit is not None
    left = []
    for room in rooms:
        minus = attempt.taken.get(room.name, NOTHING)
        if not whole and room.name in holds:
            minus = minus + holds[room.name]
        have = (Need(room.size, room.cpus_total, room.memory_total) if whole
                else Need(len(room.free), room.cpus, room.memory_mib))
        left.append(have - minus)
    words = _shortfall(unit, left, whole)
    return f"{words} ({attempt.fitted} of {units} units fit)" if units > 1 else words


def _shortfall(unit: UnitRequest, left: list[Need], whole: bool) -> str:
    # The first resource that no single host has enough of, among the hosts that have
    # enough of the ones before it, and the most one of them has.
    if unit.gpus and (most := max(n.gpus for n in left)) < unit.gpus:
        largest = "largest host has" if whole else "largest free block is"
        return f"needs {count(unit.gpus, 'GPU')} on one host; {largest} {most}"
    largest = "largest host has" if whole else "most free is"
    left = [n for n in left if not unit.gpus or n.gpus >= unit.gpus]
    if unit.cpus and (most_cpus := max(n.cpus for n in left)) < unit.cpus:
        return f"needs {count(unit.cpus, 'CPU')} on one host; {largest} {most_cpus:g}"
    most_memory = max(n.memory_mib for n in left if not unit.cpus or n.cpus >= unit.cpus)
    return f"needs {unit.memory_mib} MiB of memory on one host; {largest} {most_memory:g}"


def count(n: float, thing: str) -> str:
    return f"{n:g} {thing}{'' if n == 1 else 's'}"


def place(hosts: Sequence[HostView], gpus: int) -> Placement | None:
    """One unit of ``gpus`` GPUs, packed; None when no online host has them free."""
    units = (UnitRequest(gpus),)
    available = rooms(hosts)
    attempt = assign(available, units, Policy.pack)
    if attempt.hosts is None:
        return None
    return take({r.name: r for r in available}, units, attempt.hosts)[0]


def why_not(hosts: Sequence[HostView], gpus: int) -> str:
    """In words, why ``place`` found nothing."""
    units = (UnitRequest(gpus),)
    available = rooms(hosts)
    ever = assign(available, units, Policy.pack, whole=True)
    if ever.hosts is None:
        return why(available, ever, 1, whole=True)
    return why(available, assign(available, units, Policy.pack), 1)
