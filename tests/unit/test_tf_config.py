"""TF_CONFIG as TensorFlow reads it, for every strategy (the jobs' pure core)."""

from __future__ import annotations

import json

import pytest

from dllab.jobs.tf_config import Replica, Role, Strategy, check_replicas, tf_configs


def replicas(**counts: int) -> list[Replica]:
    found, port = [], 2222
    for role, count in counts.items():
        for index in range(count):
            found.append(Replica(Role(role), index, f"10.0.0.{len(found) + 1}:{port}"))
    return found


def test_parameter_server_keeps_the_evaluator_out_of_the_cluster():
    configs = tf_configs(Strategy.parameter_server,
                         replicas(chief=1, worker=2, ps=1, evaluator=1))
    assert json.loads(configs[Role.worker, 1]) == {
        "cluster": {"chief": ["10.0.0.1:2222"], "worker": ["10.0.0.2:2222", "10.0.0.3:2222"],
                    "ps": ["10.0.0.4:2222"]},
        "task": {"type": "worker", "index": 1}}
    assert json.loads(configs[Role.chief, 0])["task"] == {"type": "chief", "index": 0}
    assert json.loads(configs[Role.evaluator, 0]) == {
        "cluster": {"evaluator": ["10.0.0.5:2222"]}, "task": {"type": "evaluator", "index": 0}}
    assert len(configs) == 5


def test_multi_worker_mirrored_lists_chief_and_workers_in_index_order():
    shuffled = list(reversed(replicas(chief=1, worker=3)))
    configs = tf_configs(Strategy.multi_worker_mirrored, shuffled)
    cluster = json.loads(configs[Role.worker, 2])["cluster"]
    assert cluster == {"chief": ["10.0.0.1:2222"],
                       "worker": ["10.0.0.2:2222", "10.0.0.3:2222", "10.0.0.4:2222"]}
    assert "ps" not in cluster


@pytest.mark.parametrize("strategy", [Strategy.none, Strategy.mirrored])
def test_a_one_replica_job_gets_no_tf_config(strategy):
    assert tf_configs(strategy, replicas(worker=1)) == {}


def test_indices_must_be_dense():
    with pytest.raises(ValueError, match="0..n-1"):
        tf_configs(Strategy.multi_worker_mirrored,
                   [Replica(Role.worker, 0, "a:1"), Replica(Role.worker, 2, "b:1")])


@pytest.mark.parametrize(("strategy", "counts", "problem"), [
    (Strategy.none, {Role.worker: 2}, "runs one replica"),
    (Strategy.mirrored, {Role.chief: 1, Role.worker: 1}, "runs one replica"),
    (Strategy.mirrored, {Role.worker: 1, Role.ps: 1}, "runs one replica"),
    (Strategy.multi_worker_mirrored, {Role.worker: 2, Role.ps: 1}, "no parameter servers"),
    (Strategy.multi_worker_mirrored, {Role.evaluator: 1}, "needs a chief or workers"),
    (Strategy.parameter_server, {Role.worker: 2, Role.ps: 1}, "one chief"),
    (Strategy.parameter_server, {Role.chief: 1, Role.worker: 2}, "one chief"),
    (Strategy.parameter_server, {Role.chief: 2, Role.worker: 1, Role.ps: 1}, "at most one chief"),
    (Strategy.multi_worker_mirrored, {Role.worker: 2, Role.evaluator: 2}, "one evaluator"),
])
def test_what_a_strategy_lacks_is_said(strategy, counts, problem):
    assert problem in (check_replicas(strategy, counts) or "")


@pytest.mark.parametrize(("strategy", "counts"), [
    (Strategy.none, {Role.worker: 1}),
    (Strategy.mirrored, {Role.chief: 1}),
    (Strategy.multi_worker_mirrored, {Role.chief: 1, Role.worker: 2, Role.evaluator: 1}),
    (Strategy.multi_worker_mirrored, {Role.worker: 3}),
    (Strategy.parameter_server, {Role.chief: 1, Role.worker: 2, Role.ps: 1, Role.evaluator: 1}),
])
def test_what_a_strategy_needs_passes(strategy, counts):
    assert check_replicas(strategy, counts) is None
