"""A prediction service's traffic, from its replicas' ``/metrics`` (dllab-serve's
Prometheus counters): requests and errors per second, latency percentiles, requests in
flight. The control plane scrapes each routed replica every round and keeps, per service, a
point every ``POINT_SECONDS`` for the last hour, in memory: the console's charts and the
autoscaler's input. Counters that go back (a replica restarted) count from zero again.
"""

from __future__ import annotations

import math
import re
from collections import deque
from dataclasses import dataclass, field

from dllab.schemas.serving import MetricsPoint

POINT_SECONDS = 2.0
KEEP_POINTS = 1800  # an hour

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?\s+(\S+)')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@dataclass
class Scrape:
    """One replica's counters at one moment."""

    requests: dict[str, float]  # status code -> count
    buckets: list[tuple[float, float]]  # (upper bound in s, cumulative count), by bound
    inflight: float


def parse(text: str) -> Scrape:
    requests: dict[str, float] = {}
    buckets: list[tuple[float, float]] = []
    inflight = 0.0
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None:
            continue
        try:
            value = float(match.group(3))
        except ValueError:
            continue  # not a sample of ours: a replica's metrics must not stall its service
        name, labels = match.group(1), dict(_LABEL.findall(match.group(2) or ""))
        if name == "dllab_serve_requests_total":
            requests[labels.get("code", "?")] = value
        elif name == "dllab_serve_request_duration_seconds_bucket":
            buckets.append((float(labels.get("le", "+Inf")), value))
        elif name == "dllab_serve_inflight_requests":
            inflight = value
    return Scrape(requests, sorted(buckets), inflight)


@dataclass
class _Delta:
    requests: float = 0.0
    errors: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)
    inflight: list[float] = field(default_factory=list)


class ServiceStats:
    """One service's points, from the scrapes of its replicas."""

    def __init__(self) -> None:
        self.points: deque[MetricsPoint] = deque(maxlen=KEEP_POINTS)
        self._last: dict[str, Scrape] = {}
        self._open = _Delta()
        self._opened_at: float | None = None

    def add(self, now: float, scrapes: dict[str, Scrape]) -> None:
        """This round's scrapes, by replica; replicas missing from it are forgotten."""
        if self._opened_at is None:
            self._opened_at = now
        for replica, scrape in scrapes.items():
            before = self._last.get(replica)
            if before is not None:
                _accumulate(self._open, before, scrape)
        self._open.inflight.append(sum(s.inflight for s in scrapes.values()))
        self._last = scrapes
        elapsed = now - self._opened_at
        if elapsed >= POINT_SECONDS:
            self.points.append(_point(now, elapsed, self._open, len(scrapes)))
            self._open, self._opened_at = _Delta(), now

    def recent(self, seconds: float) -> list[MetricsPoint]:
        if not self.points:
            return []
        newest = self.points[-1].at
        return [p for p in self.points if p.at > newest - seconds]


def _accumulate(delta: _Delta, before: Scrape, after: Scrape) -> None:
    total_before, total_after = sum(before.requests.values()), sum(after.requests.values())
    restarted = total_after < total_before
    for code, count in after.requests.items():
        grown = count if restarted else count - before.requests.get(code, 0.0)
        delta.requests += grown
        if code.startswith("5"):
            delta.errors += grown
    previous = {} if restarted else dict(before.buckets)
    for bound, count in after.buckets:
        delta.buckets[bound] = delta.buckets.get(bound, 0.0) + count - previous.get(bound, 0.0)


def _point(now: float, seconds: float, delta: _Delta, replicas: int) -> MetricsPoint:
    buckets = sorted(delta.buckets.items())
    return MetricsPoint(
        at=now, rps=delta.requests / seconds, errors=delta.errors / seconds,
        p50_ms=percentile_ms(buckets, 0.50), p95_ms=percentile_ms(buckets, 0.95),
        p99_ms=percentile_ms(buckets, 0.99),
        inflight=sum(delta.inflight) / len(delta.inflight) if delta.inflight else 0.0,
        replicas=replicas)


def percentile_ms(buckets: list[tuple[float, float]], q: float) -> float | None:
    """A quantile from cumulative histogram buckets, interpolated within its bucket as
    Prometheus' histogram_quantile does; None without observations."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound * 1000
            share = (rank - lower_count) / (count - lower_count) if count > lower_count else 0
            return (lower_bound + (bound - lower_bound) * share) * 1000
        lower_bound, lower_count = bound, count
    return lower_bound * 1000
