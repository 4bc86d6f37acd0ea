"""``dllab.serving.stats``: dllab-serve's Prometheus text parsed, a service's points made
from its replicas' successive scrapes (rates over the point's seconds, counters that go
back, replicas that come and go), and latency percentiles from histogram buckets the way
Prometheus' histogram_quantile interpolates them."""

from __future__ import annotations

import math

import pytest

from dllab.serving.stats import (
    KEEP_POINTS,
    POINT_SECONDS,
    Scrape,
    ServiceStats,
    parse,
    percentile_ms,
)

# What dllab-serve's /metrics answers (images/runtime/serve.py), trimmed.
METRICS = """\
# HELP dllab_serve_requests_total Model API requests answered, by status.
# TYPE dllab_serve_requests_total counter
dllab_serve_requests_total{code="200"} 120
dllab_serve_requests_total{code="400"} 3
dllab_serve_requests_total{code="503"} 2
# HELP dllab_serve_request_duration_seconds Time to answer a model API request.
# TYPE dllab_serve_request_duration_seconds histogram
dllab_serve_request_duration_seconds_bucket{le="0.1"} 110
dllab_serve_request_duration_seconds_bucket{le="0.005"} 50
dllab_serve_request_duration_seconds_bucket{le="0.025"} 100
dllab_serve_request_duration_seconds_bucket{le="+Inf"} 125
dllab_serve_request_duration_seconds_sum 3.25
dllab_serve_request_duration_seconds_count 125
# HELP dllab_serve_inflight_requests Model API requests being answered.
# TYPE dllab_serve_inflight_requests gauge
dllab_serve_inflight_requests 4
# TYPE dllab_serve_batch_size histogram
dllab_serve_batch_size_bucket{le="1"} 7
dllab_serve_batch_size_bucket{le="+Inf"} 9
dllab_serve_model_loaded{version="1"} 1
"""


def scrape(ok: float, errors: float = 0, buckets: dict[float, float] | None = None,
           inflight: float = 0) -> Scrape:
    requests = {"200": ok, **({"500": errors} if errors else {})}
    total = ok + errors
    return Scrape(requests, sorted((buckets or {math.inf: total}).items()), inflight)


def test_parse_reads_the_requests_by_code_the_duration_buckets_and_inflight():
    parsed = parse(METRICS)
    assert parsed.requests == {"200": 120, "400": 3, "503": 2}
    assert parsed.buckets == [(0.005, 50), (0.025, 100), (0.1, 110), (math.inf, 125)]
    assert parsed.inflight == 4


@pytest.mark.parametrize("text", ["", "# only comments\n", "{not a sample} 1\n",
                                  "not_ours 3\n", 'not_ours{code="200"} 3\n'])
def test_parse_of_nothing_useful_is_empty(text):
    parsed = parse(text)
    assert (parsed.requests, parsed.buckets, parsed.inflight) == ({}, [], 0.0)


def test_a_line_that_is_no_sample_is_skipped():
    parsed = parse("ready true\ndllab_serve_inflight_requests 2\n")
    assert parsed.inflight == 2


def test_parse_takes_labels_in_any_order_and_sample_timestamps():
    parsed = parse('dllab_serve_requests_total{path="/v1/x",code="200"} 7 1700000000000\n'
                   'dllab_serve_request_duration_seconds_bucket{le="1e-3"} 2\n'
                   'dllab_serve_inflight_requests 1.5\n')
    assert parsed.requests == {"200": 7} and parsed.buckets == [(0.001, 2)]
    assert parsed.inflight == 1.5


def test_a_point_every_two_seconds_with_the_rates_over_its_seconds():
    stats = ServiceStats()
    buckets = {0.01: 0.0, math.inf: 0.0}
    stats.add(100.0, {"a": scrape(1000, buckets=buckets, inflight=1)})  # the baseline
    assert not stats.points
    stats.add(101.0, {"a": scrape(1010, 2, {0.01: 8, math.inf: 12}, inflight=3)})
    assert not stats.points  # 1 s: not yet a point
    stats.add(102.0, {"a": scrape(1030, 4, {0.01: 20, math.inf: 34}, inflight=5)})
    [point] = stats.points
    assert point.at == 102.0 and point.replicas == 1
    assert point.rps == pytest.approx(34 / 2)  # 30 answered and 4 errors, over 2 s
    assert point.errors == pytest.approx(4 / 2)
    assert point.inflight == pytest.approx((1 + 3 + 5) / 3)  # each round's, averaged
    # 20 of 34 within 10 ms: the median is in the first bucket.
    assert point.p50_ms == pytest.approx(0.01 * (17 / 20) * 1000)
    assert point.p99_ms == pytest.approx(10.0)  # in +Inf: the highest finite bound

    stats.add(103.0, {"a": scrape(1040, 4)})
    assert len(stats.points) == 1
    stats.add(104.5, {"a": scrape(1070, 4)})
    assert len(stats.points) == 2
    assert stats.points[-1].rps == pytest.approx(40 / 2.5)  # from 102 to 104.5
    assert stats.points[-1].errors == 0


def test_requests_of_several_replicas_add_up():
    stats = ServiceStats()
    stats.add(0.0, {"a": scrape(100), "b": scrape(50)})
    stats.add(2.0, {"a": scrape(110), "b": scrape(80)})
    [point] = stats.points
    assert point.rps == pytest.approx((10 + 30) / 2) and point.replicas == 2


def test_a_counter_that_goes_back_counts_from_zero_again():
    stats = ServiceStats()
    stats.add(0.0, {"a": scrape(5000, buckets={0.1: 5000, math.inf: 5000})})
    # The replica restarted: its counters start over, so all of them are new.
    stats.add(2.0, {"a": scrape(6, 1, buckets={0.1: 3, math.inf: 7})})
    [point] = stats.points
    assert point.rps == pytest.approx(7 / 2) and point.errors == pytest.approx(1 / 2)
    # The buckets too: 3 of 7 within 100 ms, so the median is past it.
    assert point.p50_ms == pytest.approx(100.0)


def test_a_replica_counts_from_its_second_scrape_and_is_forgotten_when_missing():
    stats = ServiceStats()
    stats.add(0.0, {"a": scrape(100)})
    stats.add(2.0, {"a": scrape(110), "new": scrape(9000)})  # new: nothing to compare yet
    assert stats.points[-1].rps == pytest.approx(10 / 2)
    assert stats.points[-1].replicas == 2
    stats.add(4.0, {"new": scrape(9010)})  # a: not routed this round
    assert stats.points[-1].rps == pytest.approx(10 / 2) and stats.points[-1].replicas == 1
    stats.add(6.0, {"a": scrape(500), "new": scrape(9010)})  # a again: a fresh baseline
    assert stats.points[-1].rps == 0 and stats.points[-1].p50_ms is None


def test_no_traffic_makes_points_of_zero_without_latencies():
    stats = ServiceStats()
    for second in range(0, 7, 2):
        stats.add(float(second), {"a": scrape(42, buckets={0.1: 42, math.inf: 42})})
    assert len(stats.points) == 3
    for point in stats.points:
        assert (point.rps, point.errors, point.p50_ms, point.p95_ms) == (0, 0, None, None)
    stats = ServiceStats()
    stats.add(0.0, {})
    stats.add(POINT_SECONDS, {})
    [point] = stats.points
    assert (point.rps, point.replicas, point.inflight) == (0, 0, 0)


def test_recent_and_an_hour_kept():
    stats = ServiceStats()
    assert stats.recent(900) == []
    for i in range(KEEP_POINTS + 10):
        stats.add(i * POINT_SECONDS, {})
    assert len(stats.points) == KEEP_POINTS
    newest = stats.points[-1].at
    assert newest == (KEEP_POINTS + 9) * POINT_SECONDS
    recent = stats.recent(10)
    assert [p.at for p in recent] == [newest - 8, newest - 6, newest - 4, newest - 2, newest]
    assert len(stats.recent(3600)) == KEEP_POINTS


# Cumulative: 50 within 10 ms, 90 within 100 ms, 100 within 1 s.
HISTOGRAM = [(0.01, 50.0), (0.1, 90.0), (1.0, 100.0), (math.inf, 100.0)]


@pytest.mark.parametrize(("q", "ms"), [
    (0.5, 10.0),  # exactly the first bucket's bound
    (0.25, 5.0),  # halfway into the first bucket, from 0
    (0.7, 55.0),  # 20 of the next 40: halfway from 10 to 100 ms
    (0.95, 550.0),  # 5 of the last 10: halfway from 100 ms to 1 s
    (0.99, 910.0),
    (1.0, 1000.0),
])
def test_percentiles_interpolate_within_their_bucket(q, ms):
    assert percentile_ms(HISTOGRAM, q) == pytest.approx(ms)


def test_a_percentile_in_the_open_bucket_is_its_lower_bound_and_none_without_observations():
    tail = [(0.01, 50.0), (0.1, 60.0), (math.inf, 100.0)]
    assert percentile_ms(tail, 0.5) == pytest.approx(10.0)
    assert percentile_ms(tail, 0.95) == pytest.approx(100.0)  # as histogram_quantile does
    assert percentile_ms([], 0.5) is None
    assert percentile_ms([(0.1, 0.0), (math.inf, 0.0)], 0.5) is None
    # Empty buckets below: the quantile is found in the first bucket holding it.
    assert percentile_ms([(0.01, 0.0), (0.1, 0.0), (1.0, 10.0)], 0.5) == pytest.approx(550.0)
