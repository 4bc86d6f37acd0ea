"""How fast the scheduler decides: passes over a queue of 1,000 requests.

A *decision* is what one scheduling pass decides for one queued request: placed (a host
and GPUs for every one of its units) or left waiting (its position and the reason in
words). Every queued request gets exactly one decision per pass.

- *Decision time*: one call of ``SchedulingPass.decide``, timed alone; p50, p99 and max.
- *Decisions per second*: the requests decided over the time of whole passes, setting the
  pass up (rooms of the hosts, queue order, last reservation) included. Building the
  inputs, which is the database layer's work, is not timed.
- How many decisions placed a request and how many left one waiting (for room, for quota
  or behind the head), since the two cost differently.

The lab simulated: H hosts of 8 GPUs, 64 CPUs and 512 GiB each, half of their GPUs held by
running units at the start. A queue of 1,000 requests drawn from a mix: one unit of 0, 1,
2, 4 or 8 GPUs (environments), jobs of 2 to 4 replicas of 1 to 4 GPUs (pack) and services
of 2 to 4 one-GPU replicas (spread); 20 owners, 5 with a quota of 16 GPUs; priorities 0 to
2. Between passes a tenth of the running units end and new requests refill the queue to
1,000, so later passes meet what a live lab has: full hosts, a standing reservation, a
long tail that waits.

Usage: python benchmarks/scheduler.py [--hosts 10 100 1000] [--queued 1000] [--passes 20]
Targets (issue 3), 100 hosts and 1,000 queued: >= 1,000 decisions/s, p99 <= 5 ms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from dataclasses import dataclass, field

from dllab.scheduler.placement import HostView, Policy, UnitRequest
from dllab.scheduler.queue import Placed, Request, Reservation, SchedulingPass

GPUS, CPUS, MEMORY_MIB = 8, 64, 512 * 1024
OWNERS = [f"user{i}" for i in range(20)]
QUOTAS: dict[str, int | None] = {owner: 16 for owner in OWNERS[:5]}


@dataclass
class Running:
    owner: str
    host: str
    gpus: tuple[int, ...]
    cpus: float
    memory_mib: int


class Lab:
    """The state a database would hold: hosts, running units, the queue."""

    def __init__(self, hosts: int, rng: random.Random) -> None:
        self.rng = rng
        self.hosts = [f"host-{i:04d}" for i in range(hosts)]
        self.running: list[Running] = []
        self.queue: dict[str, Request] = {}
        self.reservation: Reservation | None = None
        self.submitted = 0
        for host in self.hosts:
            for gpu in rng.sample(range(GPUS), GPUS // 2):
                self.running.append(Running(rng.choice(OWNERS), host, (gpu,), 4, 16384))

    def request(self) -> Request:
        rng, self.submitted = self.rng, self.submitted + 1
        kind = rng.random()
        if kind < 0.7:
            units = (UnitRequest(rng.choice([0, 1, 1, 1, 2, 2, 4, 8]), 4, 16384),)
            policy = Policy.pack
        elif kind < 0.9:
            units = (UnitRequest(rng.choice([1, 2, 4]), 8, 32768),) * rng.randint(2, 4)
            policy = Policy.pack
        else:
            units = (UnitRequest(1, 2, 8192),) * rng.randint(2, 4)
            policy = Policy.spread
        return Request(f"r{self.submitted}", rng.choice(OWNERS), rng.choice([0, 0, 0, 1, 2]),
                       float(self.submitted), units, policy)

    def views(self) -> list[HostView]:
        used: dict[str, list[Running]] = {h: [] for h in self.hosts}
        for unit in self.running:
            used[unit.host].append(unit)
        return [HostView(h, True, tuple(range(GPUS)),
                         frozenset(g for u in used[h] for g in u.gpus),
                         CPUS, sum(u.cpus for u in used[h]),
                         MEMORY_MIB, sum(u.memory_mib for u in used[h]))
                for h in self.hosts]

    def usage(self) -> dict[str, int]:
        usage: dict[str, int] = {}
        for unit in self.running:
            usage[unit.owner] = usage.get(unit.owner, 0) + len(unit.gpus)
        return usage

    def apply(self, placed: list[Placed], reservation: Reservation | None) -> None:
        for decision in placed:
            request = self.queue.pop(decision.request)
            for unit, where in zip(request.units, decision.placements, strict=True):
                self.running.append(Running(request.owner, where.host, where.gpus,
                                            unit.cpus, unit.memory_mib))
        self.reservation = reservation

    def churn(self, queued: int) -> None:
        self.rng.shuffle(self.running)
        del self.running[:len(self.running) // 10]
        while len(self.queue) < queued:
            request = self.request()
            self.queue[request.id] = request


@dataclass
class Timings:
    seconds: float = 0.0  # in whole passes
    placed: list[int] = field(default_factory=list)  # ns, one per decision that placed
    waited: list[int] = field(default_factory=list)  # ns, one per decision that did not


def run(hosts: int, queued: int, passes: int, seed: int) -> Timings:
    lab = Lab(hosts, random.Random(seed))
    lab.churn(queued)
    timings = Timings()
    for _ in range(passes):
        views, queue, usage = lab.views(), list(lab.queue.values()), lab.usage()
        start = time.perf_counter()
        scheduling = SchedulingPass(views, queue, QUOTAS, usage, lab.reservation)
        for request in scheduling.order:
            before = time.perf_counter_ns()
            decision = scheduling.decide(request)
            took = time.perf_counter_ns() - before
            (timings.placed if isinstance(decision, Placed) else timings.waited).append(took)
        decisions = scheduling.decisions()
        timings.seconds += time.perf_counter() - start
        lab.apply(list(decisions.placed), decisions.reservation)
        lab.churn(queued)
    return timings


def p99(times: list[int]) -> float:
    return statistics.quantiles(times, n=100)[98] / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--queued", type=int, default=1000)
    parser.add_argument("--passes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"{args.queued} queued, {args.passes} passes, {GPUS} GPUs a host; times in ms")
    print(f"{'hosts':>6} {'decisions/s':>12} {'p50':>7} {'p99':>7} {'max':>7} "
          f"{'placed':>7} {'its p99':>7} {'waited':>7} {'its p99':>7}")
    for hosts in args.hosts:
        t = run(hosts, args.queued, args.passes, args.seed)
        times = t.placed + t.waited
        print(f"{hosts:>6} {len(times) / t.seconds:>12,.0f} "
              f"{statistics.median(times) / 1e6:>7.3f} {p99(times):>7.3f} "
              f"{max(times) / 1e6:>7.3f} {len(t.placed):>7} {p99(t.placed):>7.3f} "
              f"{len(t.waited):>7} {p99(t.waited):>7.3f}")


if __name__ == "__main__":
    main()
