"""How many replicas a service wants, from its load: Kubernetes' horizontal autoscaler
rule, ``ceil(replicas * value / target)`` within [min, max], with a 10% band inside which
nothing changes (so that noise does not make it flap). The caller delays scaling down (a
drop must last ``scale_down_delay_seconds``) and never counts a replica still starting as
missing: one waiting for a GPU is waited for, not replaced.
"""

from __future__ import annotations

import math
from statistics import fmean

from dllab.schemas.serving import Autoscale, Metric, MetricsPoint

WINDOW_SECONDS = 10.0  # the metric is averaged over this much of the newest points
TOLERANCE = 0.1


def metric_value(metric: Metric, points: list[MetricsPoint],
                 gpu_utilization: list[float]) -> float | None:
    """The service's load on ``metric``, over the window: per replica for rps, inflight and
    gpu_util, over the service for latency_p95; None when there is nothing to go by."""
    if metric == Metric.gpu_util:
        return fmean(gpu_utilization) if gpu_utilization else None
    if not points:
        return None
    replicas = max(1.0, fmean(p.replicas for p in points))
    if metric == Metric.rps:
        return fmean(p.rps for p in points) / replicas
    if metric == Metric.inflight:
        return fmean(p.inflight for p in points) / replicas
    latencies = [p.p95_ms for p in points if p.p95_ms is not None]
    return fmean(latencies) if latencies else None


def desired_replicas(rule: Autoscale, current: int, value: float | None) -> int:
    """``current``: the replicas that serve now (the value was measured over them)."""
    current = max(current, 1)
    if value is None:
        wanted = current
    else:
        ratio = value / rule.target
        wanted = current if abs(ratio - 1) <= TOLERANCE else math.ceil(current * ratio)
        if ratio < 1 and value > 0:
            wanted = max(wanted, 1)
    return min(rule.max, max(rule.min, wanted))
