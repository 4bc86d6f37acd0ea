"""GPU discovery: NVML readings parsed from canned values, NVML missing, simulated GPUs."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pynvml
import pytest

from dllab_agent import gpu
from dllab_agent.gpu import nvml
from dllab_agent.gpu.simulated import SimulatedGpus

MIB = 1024 * 1024
UUID_SHAPE = re.compile(r"^GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def test_reading_becomes_gpu_info_in_mib():
    reading = nvml.NvmlReading(
        index=1,
        uuid="GPU-6f2b1c3e-0d4a-4a7b-9c1e-2f3a4b5c6d7e",
        name="NVIDIA H100 80GB HBM3",
        memory_total_bytes=81559 * MIB,
        memory_used_bytes=3 * MIB + 12345,
    )
    info = nvml.to_gpu_info(reading)
    assert info.index == 1
    assert info.uuid == "GPU-6f2b1c3e-0d4a-4a7b-9c1e-2f3a4b5c6d7e"
    assert info.model == "NVIDIA H100 80GB HBM3"
    assert (info.memory_total_mib, info.memory_used_mib) == (81559, 3)
    assert info.simulated is False


def test_older_bindings_return_bytes():
    reading = nvml.NvmlReading(0, b"GPU-abc", b"Tesla V100-SXM2-16GB", 16 * 1024 * MIB, 0)
    info = nvml.to_gpu_info(reading)
    assert (info.uuid, info.model) == ("GPU-abc", "Tesla V100-SXM2-16GB")


@pytest.fixture
def two_fake_devices(monkeypatch):
    """NVML's device calls answering for two GPUs, as the bindings would."""
    devices = [
        ("GPU-00000000-0000-0000-0000-000000000000", "NVIDIA A100-SXM4-40GB", 40960, 0),
        ("GPU-11111111-1111-1111-1111-111111111111", "NVIDIA A100-SXM4-40GB", 40960, 1024),
    ]
    calls = []
    monkeypatch.setattr(pynvml, "nvmlInit", lambda: calls.append("init"))
    monkeypatch.setattr(pynvml, "nvmlShutdown", lambda: calls.append("shutdown"))
    monkeypatch.setattr(pynvml, "nvmlDeviceGetCount", lambda: len(devices))
    monkeypatch.setattr(pynvml, "nvmlDeviceGetHandleByIndex", lambda i: devices[i])
    monkeypatch.setattr(pynvml, "nvmlDeviceGetUUID", lambda h: h[0])
    monkeypatch.setattr(pynvml, "nvmlDeviceGetName", lambda h: h[1].encode())
    monkeypatch.setattr(
        pynvml,
        "nvmlDeviceGetMemoryInfo",
        lambda h: SimpleNamespace(total=h[2] * MIB, used=h[3] * MIB, free=(h[2] - h[3]) * MIB),
    )
    utilization = {devices[0][0]: 37}  # the second device does not report it (a MIG slice)

    def rates(handle):
        if handle[0] not in utilization:
            raise pynvml.NVMLError_NotSupported()
        return SimpleNamespace(gpu=utilization[handle[0]], memory=5)

    monkeypatch.setattr(pynvml, "nvmlDeviceGetUtilizationRates", rates)

    def first_only(value):  # the second device reports none of these (a MIG slice)
        def read(handle, *args):
            if handle is not devices[0]:
                raise pynvml.NVMLError_NotSupported()
            return value
        return read

    monkeypatch.setattr(pynvml, "nvmlDeviceGetTemperature", first_only(64))
    monkeypatch.setattr(pynvml, "nvmlDeviceGetPowerUsage", first_only(231_500))  # mW
    monkeypatch.setattr(pynvml, "nvmlDeviceGetClockInfo", first_only(1410))
    monkeypatch.setattr(pynvml, "nvmlDeviceGetTotalEccErrors", first_only(2))
    # NVML's event set: one XID 79 (fallen off the bus) pending for the first device.
    pending = [SimpleNamespace(device=devices[0], eventData=79)]

    def wait(event_set, timeout_ms):
        assert timeout_ms == 0  # never blocks a heartbeat
        if not pending:
            raise pynvml.NVMLError_Timeout()
        return pending.pop(0)

    monkeypatch.setattr(pynvml, "nvmlEventSetCreate", lambda: "events")
    monkeypatch.setattr(pynvml, "nvmlDeviceRegisterEvents", first_only(None))
    monkeypatch.setattr(pynvml, "nvmlEventSetWait_v2", wait)
    monkeypatch.setattr(pynvml, "nvmlEventSetFree", lambda event_set: calls.append("free"))
    return calls


def test_probe_reads_every_device_and_shuts_nvml_down(two_fake_devices):
    gpus = nvml.probe()
    assert [(g.index, g.uuid[:12], g.memory_used_mib, g.utilization_pct) for g in gpus] == [
        (0, "GPU-00000000", 0, 37),
        (1, "GPU-11111111", 1024, None),
    ]
    assert two_fake_devices == ["init", "free", "shutdown"]


def test_readings_carry_what_each_device_reports_and_the_last_xid(two_fake_devices):
    source = nvml.NvmlGpus.open()
    first, second = source.read()
    assert (first.temperature_c, first.power_w, first.sm_clock_mhz, first.ecc_uncorrected,
            first.xid_last) == (64, 231.5, 1410, 2, 79)
    assert (second.temperature_c, second.power_w, second.sm_clock_mhz,
            second.ecc_uncorrected, second.xid_last) == (None, None, None, None, None)
    assert source.read()[0].xid_last == 79  # kept: the last one seen, as DCGM reports it
    source.close()


def _raise(error):
    def fail(*args):
        raise error

    return fail


def test_no_nvml_means_no_gpus_not_a_crash(monkeypatch, caplog):
    monkeypatch.setattr(pynvml, "nvmlInit", _raise(pynvml.NVMLError_LibraryNotFound()))
    caplog.set_level("INFO", logger="dllab_agent.gpu.nvml")
    nvml._log_unavailable.cache_clear()

    assert nvml.probe() is None
    assert nvml.NvmlGpus.open() is None
    assert gpu.nvml_available() is False
    assert gpu.discover(None, "host-a").read() == []
    assert caplog.text.count("NVML is not available") == 1  # logged once, not per probe


def test_nvml_source_repeats_last_reading_when_a_read_fails(two_fake_devices, monkeypatch):
    source = nvml.NvmlGpus.open()
    assert source is not None
    first = source.read()
    monkeypatch.setattr(pynvml, "nvmlDeviceGetCount", _raise(pynvml.NVMLError_GpuIsLost()))
    assert source.read() == first
    assert len(first) == 2


def test_simulated_gpus_are_marked_and_stable_per_host():
    gpus = SimulatedGpus(4, "host-a").read()
    assert [g.index for g in gpus] == [0, 1, 2, 3]
    assert all(g.simulated and g.model == "DLLab Simulated GPU" for g in gpus)
    assert all(g.memory_total_mib == 16384 and g.memory_used_mib == 0 for g in gpus)
    assert all(UUID_SHAPE.match(g.uuid) for g in gpus)
    assert len({g.uuid for g in gpus}) == 4
    assert SimulatedGpus(4, "host-a").read() == gpus
    assert {g.uuid for g in SimulatedGpus(4, "host-b").read()}.isdisjoint(g.uuid for g in gpus)


def test_simulate_wins_over_nvml_and_zero_means_none(two_fake_devices):
    assert all(g.simulated for g in gpu.discover(2, "host-a").read())
    assert gpu.discover(0, "host-a").read() == []
    assert not any(g.simulated for g in gpu.discover(None, "host-a").read())


def test_negative_simulated_count_is_refused():
    with pytest.raises(ValueError):
        SimulatedGpus(-1, "host-a")
