"""Where one unit goes: a host and the physical GPUs it gets.

Hard constraints return True/False (``fits``); preferences return a score (``score``);
``place`` picks the best host that fits. The caller loads the data and applies the choice.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HostView:
    name: str
    online: bool
    gpus: tuple[int, ...]  # physical indices the host has
    used: frozenset[int]  # indices held by units that have not ended

    @property
    def free(self) -> list[int]:
        return [i for i in self.gpus if i not in self.used]


@dataclass(frozen=True)
class Placement:
    host: str
    gpus: tuple[int, ...]


def fits(host: HostView, gpus: int) -> bool:
    return host.online and len(host.free) >= gpus


def score(host: HostView, gpus: int) -> int:
    """Pack: prefer the host that is left with the fewest free GPUs, so large blocks stay
    whole for requests that need them."""
    return -(len(host.free) - gpus)


def place(hosts: list[HostView], gpus: int) -> Placement | None:
    candidates = [h for h in hosts if fits(h, gpus)]
    if not candidates:
        return None
    best = min(candidates, key=lambda h: (-score(h, gpus), h.name))  # ties: first by name
    return Placement(best.name, tuple(best.free[:gpus]))


def why_not(hosts: list[HostView], gpus: int) -> str:
    """In words, why ``place`` found nothing."""
    online = [h for h in hosts if h.online]
    if not online:
        return "no online host"
    largest = max(len(h.free) for h in online)
    return f"needs {gpus} GPU{'s' if gpus != 1 else ''} on one host; " \
           f"largest free block is {largest}"
