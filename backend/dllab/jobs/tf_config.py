"""TF_CONFIG for each replica of a distributed TensorFlow job, from where each one runs.

TensorFlow reads ``{"cluster": {"chief": [...], "worker": [...], "ps": [...]}, "task":
{"type": "worker", "index": 0}}``: the cluster lists every training replica's address in
index order, the task says which one this is. Two rules beyond the format:

- The evaluator is never in the training cluster: its TF_CONFIG names only itself. Under
  ParameterServerStrategy a coordinator that sees an evaluator in the cluster waits for it
  forever; the other strategies ignore it either way.
- A job of one replica (strategy ``none`` or ``mirrored``, all GPUs on one host) gets no
  TF_CONFIG: TensorFlow would start a gRPC server for nothing.

``check_replicas`` says, in words, what a strategy needs that the replicas lack.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum


class Strategy(StrEnum):
    none = "none"
    mirrored = "mirrored"
    multi_worker_mirrored = "multi_worker_mirrored"
    parameter_server = "parameter_server"


class Role(StrEnum):
    chief = "chief"
    worker = "worker"
    ps = "ps"
    evaluator = "evaluator"


TRAINING = (Role.chief, Role.worker, Role.ps)  # the cluster's order of roles


@dataclass(frozen=True)
class Replica:
    role: Role
    index: int
    address: str  # "host:port" that every other replica can reach


def check_replicas(strategy: Strategy, counts: dict[Role, int]) -> str | None:
    """Why ``counts`` replicas of each role cannot run under ``strategy``, or None."""
    chief, worker, ps = (counts.get(r, 0) for r in TRAINING)
    if counts.get(Role.evaluator, 0) > 1:
        return "at most one evaluator"
    if chief > 1:
        return "at most one chief"
    if strategy in (Strategy.none, Strategy.mirrored):
        if chief + worker != 1 or ps:
            return (f"strategy {strategy} runs one replica (a chief or a worker, with all its "
                    "GPUs on one host); use multi_worker_mirrored or parameter_server for more")
    elif strategy == Strategy.multi_worker_mirrored:
        if ps:
            return "multi_worker_mirrored has no parameter servers (ps)"
        if chief + worker < 1:
            return "multi_worker_mirrored needs a chief or workers"
    elif not (chief == 1 and worker >= 1 and ps >= 1):
        return "parameter_server needs one chief (the coordinator), workers and ps"
    return None


def tf_configs(strategy: Strategy, replicas: list[Replica]) -> dict[tuple[Role, int], str]:
    """The TF_CONFIG (JSON) of each replica, by (role, index); empty for a one-replica job."""
    if strategy in (Strategy.none, Strategy.mirrored):
        return {}
    cluster: dict[str, list[str]] = {}
    for role in TRAINING:
        members = sorted((r for r in replicas if r.role == role), key=lambda r: r.index)
        if [r.index for r in members] != list(range(len(members))):
            raise ValueError(f"{role} indices must be 0..n-1, got {[r.index for r in members]}")
        if members:
            cluster[role.value] = [r.address for r in members]
    configs = {}
    for replica in replicas:
        if replica.role == Role.evaluator:
            config = {"cluster": {"evaluator": [replica.address]},
                      "task": {"type": "evaluator", "index": 0}}
        else:
            config = {"cluster": cluster,
                      "task": {"type": replica.role.value, "index": replica.index}}
        configs[replica.role, replica.index] = json.dumps(config)
    return configs
