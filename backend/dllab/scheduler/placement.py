"""Where units go: a host and the physical GPUs each one gets.

Plain data in: ``HostView`` (what a host has and what is in use) and ``UnitRequest`` (what
one unit needs). Plain data out: ``Placement``. Between them, a ``Room`` is what an online
host has left while one scheduling pass runs; the pass owns its ``Rooms`` and ``take``
changes them as units are placed.

``fits`` is the hard constraint (True/False), ``score`` the preference (higher is better);
``assign`` finds a host for every unit of a request or says which unit found none, and
``why`` puts that in words.

Policies, both greedy, largest unit first (fewer dead ends), ties to the first host name:

- ``pack`` (jobs, environments): units that fit together on one host go there; otherwise
  each unit prefers a host that already has one of its siblings, then the host left with
  the fewest free GPUs. Hosts fill up before others are opened and large blocks stay whole.
- ``spread`` (service replicas): each unit prefers the host with the fewest of its
  siblings, then as ``pack``.

A unit's GPUs are always on one host, and a unit that needs a runtime (an image to run:
docker) goes only to hosts that have it. CPUs and memory count only on hosts that report them
(``None``: not accounted). ``whole=True`` asks the same questions of all that a host has,
free or not: could this ever fit, and where would it fit soonest (fewest busy GPUs to wait
for, as no unit has a known end).
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Iterable, Iterator, Mapping, Sequence
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
    runtime: str | None = None  # the runtime its host must have (an image: docker); None: any


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
    runtime: str | None = None

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
    runtime: str | None = None  # one that some of them need (a request's units agree)

    def __add__(self, other: UnitRequest | Need) -> Need:
        return Need(self.gpus + other.gpus, self.cpus + other.cpus,
                    self.memory_mib + other.memory_mib, self.runtime or other.runtime)


NOTHING = Need()


@dataclass(slots=True, eq=False)
class Room:
    """What one online host has left during a pass."""

    name: str
    free: list[int]  # free physical indices, in the host's order
    cpus: float
    memory_mib: float
    size: int  # all of the host's GPUs, free or not
    cpus_total: float
    memory_total: float
    runtime: str | None


class Rooms:
    """The rooms of the online hosts during one pass, in name order (every tie goes to the
    first name) and indexed by free GPUs, so that the best host for a unit is found without
    looking at every host: what keeps a pass fast on 1,000 hosts."""

    def __init__(self, hosts: Iterable[HostView]) -> None:
        self.all = [Room(h.name, h.free,
                         INF if h.cpus is None else h.cpus - h.cpus_used,
                         INF if h.memory_mib is None else h.memory_mib - h.memory_used_mib,
                         len(h.gpus),
                         INF if h.cpus is None else h.cpus,
                         INF if h.memory_mib is None else h.memory_mib,
                         h.runtime)
                    for h in sorted(hosts, key=_name) if h.online]
        self.by_name = {r.name: r for r in self.all}
        self._by_free: list[list[Room]] = [
            [] for _ in range(max((r.size for r in self.all), default=0) + 1)]
        for room in self.all:
            self._by_free[len(room.free)].append(room)

    def tightest(self, gpus: int) -> Iterator[Room]:
        """The rooms with ``gpus`` free GPUs or more: the fewest free first, then by name."""
        for same in self._by_free[gpus:]:
            yield from same

    def roomiest(self) -> Iterator[Room]:
        """The rooms, the most free GPUs first."""
        for same in reversed(self._by_free):
            yield from same

    def take(self, units: Sequence[UnitRequest], hosts: Sequence[str]) -> tuple[Placement, ...]:
        """Give each unit its host's first free GPUs, and CPUs and memory."""
        placements = []
        for unit, name in zip(units, hosts, strict=True):
            room = self.by_name[name]
            self._by_free[len(room.free)].remove(room)
            gpus, room.free = tuple(room.free[:unit.gpus]), room.free[unit.gpus:]
            insort(self._by_free[len(room.free)], room, key=_name)
            room.cpus -= unit.cpus
            room.memory_mib -= unit.memory_mib
            placements.append(Placement(name, gpus))
        return tuple(placements)


def _name(host: HostView | Room) -> str:
    return host.name


def fits(room: Room, unit: UnitRequest | Need, minus: Need = NOTHING,
         whole: bool = False) -> bool:
    """Hard constraint: ``unit`` fits in what ``room`` has free (``whole``: in all the host
    has), less ``minus`` (siblings placed before it, what is held for another request).
    Only what the unit asks for counts: a unit without GPUs fits where others hold all
    the GPUs. A unit that needs a runtime fits only on a host that has it."""
    if whole:
        gpus, cpus, memory = room.size, room.cpus_total, room.memory_total
    else:
        gpus, cpus, memory = len(room.free), room.cpus, room.memory_mib
    return ((unit.runtime is None or unit.runtime == room.runtime)
            and (not unit.gpus or gpus - minus.gpus >= unit.gpus)
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


def assign(rooms: Rooms, units: Sequence[UnitRequest], policy: Policy,
           holds: Mapping[str, Need] | None = None, whole: bool = False) -> Attempt:
    """A host for every unit (in the order of ``units``), or none. ``holds``: what each
    host must keep for another request. Changes nothing."""
    holds = holds or {}
    if policy is Policy.pack and len(units) > 1:
        best = _best(rooms, sum(units, NOTHING), policy, holds, {}, {}, whole)
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


def _best(rooms: Rooms, unit: UnitRequest | Need, policy: Policy, holds: Mapping[str, Need],
          taken: Mapping[str, Need], siblings: Mapping[str, int], whole: bool) -> Room | None:
    best: Room | None = None
    best_score: tuple[int, ...] = ()

    def consider(room: Room) -> None:
        nonlocal best, best_score
        # Holds promise part of what is free now; the whole host is another question.
        minus = taken.get(room.name, NOTHING)
        if not whole and room.name in holds:
            minus = minus + holds[room.name]
        if fits(room, unit, minus, whole):
            s = score(room, unit, policy, minus, siblings.get(room.name, 0), whole)
            if best is None or s > best_score or (s == best_score and room.name < best.name):
                best, best_score = room, s

    if whole:  # rare (a new head, a new shape of request): look at every host
        for room in rooms.all:
            consider(room)
        return best
    # A host where nothing is held or taken scores by its free GPUs alone, so the first of
    # those in the index that fits beats all the others; the rest score one by one.
    for name in holds.keys() | taken.keys():
        consider(rooms.by_name[name])
    for room in rooms.tightest(unit.gpus):
        if room.name not in holds and room.name not in taken and fits(room, unit):
            consider(room)
            break
    return best


def why(rooms: Rooms, attempt: Attempt, units: int,
        holds: Mapping[str, Need] | None = None, whole: bool = False) -> str:
    """In words, why ``attempt`` (made with the same arguments) placed nothing."""
    if not rooms.all:
        return "no online host"
    unit = attempt.failed
    assert unit is not None
    if unit.runtime is not None and all(r.runtime != unit.runtime for r in rooms.all):
        return f"needs a host with the {unit.runtime} runtime; no online host has it"
    holds = {} if whole or holds is None else holds
    special = attempt.taken.keys() | holds.keys()

    def left(room: Room) -> tuple[float, float, float]:
        if unit.runtime is not None and room.runtime != unit.runtime:
            return 0, 0, 0  # a host it may not go to has nothing for it
        minus = attempt.taken.get(room.name, NOTHING) + holds.get(room.name, NOTHING)
        if whole:
            gpus, cpus, memory = room.size, room.cpus_total, room.memory_total
        else:
            gpus, cpus, memory = len(room.free), room.cpus, room.memory_mib
        # Held may exceed free (what is held includes GPUs still busy): none is left then.
        return (max(gpus - minus.gpus, 0), max(cpus - minus.cpus, 0),
                max(memory - minus.memory_mib, 0))

    seen = [left(rooms.by_name[name]) for name in special]
    if whole:
        seen += [left(r) for r in rooms.all if r.name not in special]
    else:
        # Of the other hosts only two kinds can be named: the one with the most free GPUs
        # and those with enough of them. The index finds both without looking at the rest.
        roomiest = next((r for r in rooms.roomiest() if r.name not in special
                         and unit.runtime in (None, r.runtime)), None)
        seen += [left(r) for r in rooms.tightest(unit.gpus) if r.name not in special]
        if roomiest is not None:
            seen.append(left(roomiest))
    # Name the first resource that no single host has enough of, among the hosts with
    # enough of the ones before it, and the most that any of those hosts has.
    most_gpus = max(gpus for gpus, _, _ in seen)
    enough = [(c, m) for g, c, m in seen if not unit.gpus or g >= unit.gpus]
    if unit.gpus and most_gpus < unit.gpus:
        needs, most, free = count(unit.gpus, "GPU"), most_gpus, "largest free block is"
    elif unit.cpus and (most_cpus := max(c for c, _ in enough)) < unit.cpus:
        needs, most, free = count(unit.cpus, "CPU"), most_cpus, "most free is"
    else:
        most = max(m for c, m in enough if not unit.cpus or c >= unit.cpus)
        needs, free = f"{unit.memory_mib} MiB of memory", "most free is"
    if whole and units > 1:  # what one host has says little once siblings took some of it
        return (f"needs {needs} on one host; only {attempt.fitted} of {units} units fit "
                "the online hosts, even empty")
    if whole:
        return f"needs {needs} on one host; largest host has {most:g}"
    fitted = f" ({attempt.fitted} of {units} units fit)" if units > 1 else ""
    return f"needs {needs} on one host; {free} {most:g}{fitted}"


def count(n: float, thing: str) -> str:
    return f"{n:g} {thing}{'' if n == 1 else 's'}"
