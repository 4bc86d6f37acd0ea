"""Alert rules' pure logic: metric values read from GPU samples, the comparison, messages,
and ``Pending``'s durations."""

from __future__ import annotations

from typing import Any

import pytest

from dllab.monitoring.rules import Metric, Pending, breaches, gpu_value, message, reading
from dllab.protocol import GpuHolder, GpuSample


def sample(**fields: Any) -> GpuSample:
    base: dict[str, Any] = {"index": 0, "uuid": "GPU-0", "model": "Test GPU",
                            "memory_total_mib": 16000, "memory_used_mib": 4000}
    return GpuSample(**{**base, **fields})


READINGS = sample(utilization_pct=42, temperature_c=91, power_w=250.5, sm_clock_mhz=1410,
                  ecc_uncorrected=3, xid_last=79)


@pytest.mark.parametrize(("metric", "gpu", "value"), [
    (Metric.gpu_util, READINGS, 42.0),
    (Metric.memory_used_pct, READINGS, 25.0),
    (Metric.temperature_c, READINGS, 91.0),
    (Metric.power_w, READINGS, 250.5),
    (Metric.sm_clock_mhz, READINGS, 1410.0),
    (Metric.ecc_errors, READINGS, 3.0),
    (Metric.xid_errors, READINGS, 79.0),
    # Readings the GPU lacks are not judged (None)...
    (Metric.gpu_util, sample(), None),
    (Metric.temperature_c, sample(), None),
    (Metric.power_w, sample(), None),
    (Metric.sm_clock_mhz, sample(), None),
    (Metric.ecc_errors, sample(), None),
    (Metric.memory_used_pct, sample(memory_total_mib=0, memory_used_mib=0), None),
    # ...except XID: none reported since the agent started is XID 0.
    (Metric.xid_errors, sample(), 0.0),
    # Not a GPU's metric.
    (Metric.host_silent_seconds, READINGS, None),
])
def test_gpu_value(metric: Metric, gpu: GpuSample, value: float | None) -> None:
    assert gpu_value(metric, gpu) == value


def test_every_metric_is_read_or_per_host() -> None:
    for metric in Metric:
        assert (gpu_value(metric, READINGS) is None) == metric.per_host, metric


@pytest.mark.parametrize(("op", "value", "threshold", "holds"), [
    (">", 86, 85, True), (">", 85, 85, False), (">", 84, 85, False),
    ("<", 4, 5, True), ("<", 5, 5, False), ("<", 6, 5, False),
    (">", 1, 0, True), (">", 0, 0, False),
])
def test_breaches(op: str, value: float, threshold: float, holds: bool) -> None:
    assert breaches(op, value, threshold) is holds


def test_breaches_refuses_unknown_op() -> None:
    with pytest.raises(ValueError, match="comparison"):
        breaches(">=", 1, 0)


def test_messages_in_words() -> None:
    assert message(Metric.temperature_c, ">", 85, 91, "gpu-1", 0, 60) == \
        "GPU 0 of gpu-1 at 91 °C for 60 s (over 85)"
    assert message(Metric.gpu_util, "<", 5, 0, "gpu-1", 2, 1800.4, owner="alice") == \
        "GPU 2 of gpu-1 (held by alice) at 0% utilization for 1800 s (under 5)"
    assert message(Metric.memory_used_pct, ">", 95, 97.65625, "gpu-1", 1, 0) == \
        "GPU 1 of gpu-1 at 97.7% memory used (over 95)"
    assert message(Metric.ecc_errors, ">", 0, 3, "gpu-2", 0, 0) == \
        "GPU 0 of gpu-2 has 3 uncorrected ECC errors (over 0)"
    assert message(Metric.xid_errors, ">", 0, 79, "gpu-2", 3, 0) == \
        "GPU 3 of gpu-2 reported XID 79 (over 0)"
    assert message(Metric.host_silent_seconds, ">", 30, 42.4, "gpu-3", None, 0) == \
        "gpu-3 silent for 42 s (over 30)"
    assert reading(Metric.power_w, 0.25) == "0.25 W"
    assert reading(Metric.sm_clock_mhz, 1e300) == "1e+300 MHz SM clock"


def test_every_metric_has_words() -> None:
    for metric in Metric:
        assert reading(metric, 1.0)
        assert message(metric, ">", 0, 1, "h", None if metric.per_host else 0, 5)


KEY = (1, "gpu-1", 0)


def test_pending_counts_how_long_a_condition_held() -> None:
    pending = Pending()
    assert pending.observe(KEY, True, now=100) == 0
    assert pending.observe(KEY, True, now=130) == 30
    assert pending.observe(KEY, True, now=160.5) == 60.5
    assert pending.since(KEY) == 100
    # Stops holding: starts again from nothing.
    assert pending.observe(KEY, False, now=161) == 0
    assert pending.since(KEY) is None
    assert pending.observe(KEY, True, now=170) == 0
    assert pending.observe(KEY, True, now=175) == 5


def test_pending_keys_are_apart() -> None:
    pending = Pending()
    other_gpu, other_rule, host = (1, "gpu-1", 1), (2, "gpu-1", 0), (1, "gpu-1", None)
    pending.observe(KEY, True, now=0)
    pending.observe(other_gpu, True, now=10)
    pending.observe(other_rule, True, now=20)
    pending.observe(host, True, now=30)
    assert [pending.observe(k, True, now=40) for k in (KEY, other_gpu, other_rule, host)] == \
        [40, 30, 20, 10]
    assert len(pending) == 4


def test_pending_restarts_when_the_subject_changes() -> None:
    pending = Pending()
    pending.observe(KEY, True, now=0, subject="job-a")
    assert pending.observe(KEY, True, now=50, subject="job-a") == 50
    assert pending.observe(KEY, True, now=60, subject="job-b") == 0
    assert pending.observe(KEY, True, now=70, subject="job-b") == 10


def test_pending_forgets_what_was_not_judged() -> None:
    pending = Pending()
    silent = (1, "gpu-2", 0)
    pending.observe(KEY, True, now=0)
    pending.observe(silent, True, now=0)
    pending.keep_only([KEY])
    assert pending.since(silent) is None and pending.since(KEY) == 0
    # Judged again later: its duration starts anew.
    assert pending.observe(silent, True, now=100) == 0


def test_pending_clock_going_back_never_answers_negative() -> None:
    pending = Pending()
    pending.observe(KEY, True, now=100)
    assert pending.observe(KEY, True, now=90) == 0


def test_holder_does_not_change_values() -> None:
    held = sample(utilization_pct=3, holder=GpuHolder(unit="a" * 32, workload="b" * 32,
                                                      owner="alice", visible_index=0))
    assert gpu_value(Metric.gpu_util, held) == 3.0
