"""A job's replicas learn each other's addresses when their gang is placed, before any of
them starts: each gets a host port (free among its host's units, the same number inside
its container) and its TF_CONFIG naming every replica's host:port.

A replica is known by ``DLLAB_REPLICA_ROLE`` and ``DLLAB_REPLICA_INDEX`` in its env, and
the job's strategy by ``DLLAB_JOB_STRATEGY``; a unit that wants a host port has
``host_port`` 0 until it is placed.

A host whose address is a loopback one (the single-machine default) is this machine: a
container reaches it as ``host.docker.internal``, which each one resolves to its host.
"""

from __future__ import annotations

import ipaddress
import json
import random
from collections.abc import Iterable
from dataclasses import dataclass

from dllab.jobs.tf_config import Replica, Role, Strategy, tf_configs
from dllab.protocol import RuntimeKind, UnitSpec

KIND = "job"  # the workload kind whose gangs are bound here

ROLE_ENV = "DLLAB_REPLICA_ROLE"
INDEX_ENV = "DLLAB_REPLICA_INDEX"
STRATEGY_ENV = "DLLAB_JOB_STRATEGY"
DOCKER_HOST_ALIAS = "host.docker.internal"
PENDING = "pending"


@dataclass
class Member:
    """One placed replica: its spec (changed in place) and where it runs."""

    spec: UnitSpec
    address: str  # the host's address as its agent registered it
    runtime: RuntimeKind | None


def reachable_address(address: str, runtime: RuntimeKind | None) -> str:
    try:
        loopback = ipaddress.ip_address(address).is_loopback
    except ValueError:
        loopback = address == "localhost"
    return DOCKER_HOST_ALIAS if loopback and runtime == RuntimeKind.docker else address


def replica_of(spec: UnitSpec) -> tuple[Role, int]:
    return Role(spec.env[ROLE_ENV]), int(spec.env[INDEX_ENV])


def bind(gang: list[Member], used_ports: dict[str, set[int]], ports: tuple[int, int],
         rng: random.Random | None = None) -> None:
    """Give each member that wants a host port (``host_port`` 0) one free at its address,
    noting it in ``used_ports`` (by address: hosts that share one, such as agents on one
    machine, share its ports); then, for a job's replicas, their TF_CONFIG."""
    pick = rng or random.Random()
    for member in gang:
        if member.spec.host_port == 0:
            used = used_ports.setdefault(member.address, set())
            member.spec.host_port = _free_port(used, ports, pick)
            used.add(member.spec.host_port)
    if not all(STRATEGY_ENV in m.spec.env and m.spec.host_port for m in gang):
        return
    strategy = Strategy(gang[0].spec.env[STRATEGY_ENV])
    replicas = [Replica(*replica_of(m.spec),
                        f"{reachable_address(m.address, m.runtime)}:{m.spec.host_port}")
                for m in gang]
    configs = tf_configs(strategy, replicas)
    for member, replica in zip(gang, replicas, strict=True):
        config = configs.get((replica.role, replica.index))
        if config is None:
            member.spec.env.pop("TF_CONFIG", None)
        else:
            member.spec.env["TF_CONFIG"] = config


def preview(strategy: Strategy,
            replicas: Iterable[tuple[Role, int]]) -> dict[tuple[Role, int], str]:
    """The TF_CONFIG each replica will get, with addresses not known yet reading 'pending'."""
    return tf_configs(strategy, [Replica(role, index, f"{role}-{index}:{PENDING}")
                                 for role, index in replicas])


def _free_port(used: set[int], ports: tuple[int, int], pick: random.Random) -> int:
    first, last = ports
    if len(used) < (last - first + 1) // 2:  # mostly free: a random guess lands at once
        while (port := pick.randint(first, last)) in used:
            pass
        return port
    free = sorted(set(range(first, last + 1)) - used)
    if not free:
        raise RuntimeError(f"no free port left in {first}-{last}")
    return pick.choice(free)


def parse(config: str | None) -> dict | None:  # type: ignore[type-arg]
    return json.loads(config) if config else None
