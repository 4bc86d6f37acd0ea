"""``dllab.serving.autoscale``: the load on each metric over the newest points, and the
replicas wanted from it: Kubernetes' HPA rule ``ceil(current * value / target)``, nothing
within 10% of the target, clamped to [min, max], the current count when nothing is known."""

from __future__ import annotations

import pytest

from dllab.schemas.serving import Autoscale, Metric, MetricsPoint
from dllab.serving.autoscale import TOLERANCE, desired_replicas, metric_value


def point(rps: float = 0.0, inflight: float = 0.0, p95: float | None = None,
          replicas: int = 1, at: float = 0.0) -> MetricsPoint:
    return MetricsPoint(at=at, rps=rps, errors=0.0, p50_ms=None, p95_ms=p95, p99_ms=None,
                        inflight=inflight, replicas=replicas)


def rule(target: float = 10, low: int = 1, high: int = 10,
         metric: Metric = Metric.rps) -> Autoscale:
    return Autoscale(min=low, max=high, metric=metric, target=target)


def test_rps_and_inflight_are_per_replica_means_over_the_window():
    points = [point(rps=30, inflight=6, replicas=3), point(rps=50, inflight=9, replicas=2)]
    # Mean rps 40 over a mean of 2.5 routed replicas.
    assert metric_value(Metric.rps, points, []) == pytest.approx(40 / 2.5)
    assert metric_value(Metric.inflight, points, []) == pytest.approx(7.5 / 2.5)


def test_no_routed_replica_counts_as_one():
    assert metric_value(Metric.rps, [point(rps=12, replicas=0)], []) == pytest.approx(12)


def test_latency_is_the_services_mean_p95_of_the_points_that_have_one():
    points = [point(p95=100, replicas=4), point(p95=None), point(p95=300, replicas=1)]
    assert metric_value(Metric.latency_p95, points, []) == pytest.approx(200)
    assert metric_value(Metric.latency_p95, [point(p95=None)], []) is None


def test_gpu_utilization_is_the_mean_of_the_replicas_gpus_and_ignores_the_points():
    assert metric_value(Metric.gpu_util, [], [40.0, 80.0, 90.0]) == pytest.approx(70)
    assert metric_value(Metric.gpu_util, [point(rps=100)], []) is None


@pytest.mark.parametrize("metric", [Metric.rps, Metric.inflight, Metric.latency_p95])
def test_nothing_to_go_by_is_none(metric):
    assert metric_value(metric, [], [55.0]) is None


@pytest.mark.parametrize(("current", "value", "wanted"), [
    (2, 20, 4),  # twice the target: twice the replicas
    (2, 15, 3),  # ceil(2 * 1.5)
    (3, 11.5, 4),  # ceil(3 * 1.15) = ceil(3.45)
    (4, 5, 2),  # half the target: half the replicas
    (4, 7, 3),  # ceil(4 * 0.7) = ceil(2.8)
    (1, 0.1, 1),  # never below one
    (5, 0, 1),  # no traffic at all: down to min
])
def test_the_hpa_rule(current, value, wanted):
    assert desired_replicas(rule(target=10), current, value) == wanted


@pytest.mark.parametrize("value", [9.05, 9.5, 10.0, 10.5, 10.95])
def test_within_the_tolerance_band_nothing_changes(value):
    assert abs(value / 10 - 1) <= TOLERANCE
    assert desired_replicas(rule(target=10), 6, value) == 6


@pytest.mark.parametrize(("value", "wanted"), [
    (11.2, 7),  # ceil(6 * 1.12) = ceil(6.72)
    (8.8, 6),  # ceil(6 * 0.88) = ceil(5.28): rounding up keeps it, as the HPA's does
    (8.0, 5),  # ceil(6 * 0.8) = ceil(4.8)
])
def test_just_outside_the_band_it_scales(value, wanted):
    assert abs(value / 10 - 1) > TOLERANCE
    assert desired_replicas(rule(target=10), 6, value) == wanted


def test_clamped_to_min_and_max():
    assert desired_replicas(rule(target=10, low=2, high=5), 4, 100) == 5
    assert desired_replicas(rule(target=10, low=2, high=5), 4, 1) == 2
    assert desired_replicas(rule(target=10, low=3, high=3), 1, 10) == 3


def test_an_unknown_value_keeps_the_current_count_within_bounds():
    assert desired_replicas(rule(low=1, high=10), 4, None) == 4
    assert desired_replicas(rule(low=1, high=3), 6, None) == 3
    assert desired_replicas(rule(low=2, high=10), 1, None) == 2
    assert desired_replicas(rule(low=1, high=10), 0, None) == 1  # counted as one


def test_no_replica_serving_is_counted_as_one():
    assert desired_replicas(rule(target=10), 0, 30) == 3


def test_latency_scales_the_same_way_against_its_target():
    latency = rule(target=200, metric=Metric.latency_p95)
    assert desired_replicas(latency, 2, 400) == 4
    assert desired_replicas(latency, 4, 100) == 2
    assert desired_replicas(latency, 4, 190) == 4
