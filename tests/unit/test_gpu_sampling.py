"""The agent's GPU sampler: attribution from unit labels, simulated GPUs driven by the units
holding them, the DCGM-named exposition and the agent's own /metrics server."""

from __future__ import annotations

import os
import time

import httpx
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from dllab import dcgm
from dllab.protocol import LABEL_KIND, LABEL_OWNER, LABEL_WORKLOAD, UnitSpec
from dllab_agent.gpu.simulated import CONTEXT_MIB, SimulatedGpus, UnitLoad
from dllab_agent.runtime.base import Holding, process_tree_usage
from dllab_agent.sampling import Sampler, holders, serve_metrics
from fakes import FakeRuntime

LABELS = {LABEL_WORKLOAD: "w" * 32, LABEL_KIND: "job", LABEL_OWNER: "alice"}


def test_a_unit_sees_its_gpus_in_the_order_it_was_given_them():
    found = holders([Holding("u1", "c1", (2, 0), LABELS)])
    assert {index: h.visible_index for index, h in found.items()} == {2: 0, 0: 1}
    assert found[2].owner == "alice" and found[2].kind == "job" and found[2].unit == "u1"


def test_simulated_gpus_follow_the_cpu_their_units_use():
    gpus = SimulatedGpus(3, "host")
    idle = {g.index: g for g in gpus.read()}
    assert idle[0].utilization_pct == 0 and idle[0].memory_used_mib == 0
    gpus.drive([UnitLoad(gpus=(0,), cores=1.0, memory_mib=1000),
                UnitLoad(gpus=(1, 2), cores=0.5, memory_mib=0)])
    busy = {g.index: g for g in gpus.read()}
    assert busy[0].utilization_pct == 100 and busy[0].memory_used_mib == CONTEXT_MIB + 1000
    assert busy[1].utilization_pct == busy[2].utilization_pct == 25
    assert busy[0].temperature_c > idle[0].temperature_c
    assert busy[0].power_w > idle[0].power_w and busy[0].sm_clock_mhz > idle[0].sm_clock_mhz
    gpus.drive([])
    assert all(g.utilization_pct == 0 for g in gpus.read())


def test_the_sampler_labels_each_gpu_with_its_holder_and_drives_simulated_ones():
    runtime = FakeRuntime()
    runtime.start(UnitSpec(unit_id="u1", name="train", command=["x"], gpus=[2, 0],
                           labels=LABELS))
    runtime.busy["u1"] = 2.0  # two cores: 100% on each of its two GPUs
    sampler = Sampler(SimulatedGpus(3, "host"), runtime, client=None)
    sampler.sample()  # the first reading of a unit's CPU time only sets where to count from
    time.sleep(1)  # long beside a pause between reading CPU time and the clock
    report = sampler.sample()
    by_index = {g.index: g for g in report.gpus}
    assert by_index[2].holder is not None and by_index[2].holder.visible_index == 0
    assert by_index[0].holder is not None and by_index[0].holder.visible_index == 1
    assert by_index[1].holder is None and by_index[1].utilization_pct == 0
    assert by_index[0].utilization_pct >= 90 and by_index[2].utilization_pct >= 90
    runtime.stop("u1")
    after = {g.index: g for g in sampler.sample().gpus}
    assert after[0].holder is None and after[0].utilization_pct == 0


def test_the_exposition_carries_dcgm_names_and_dllab_labels():
    runtime = FakeRuntime()
    runtime.start(UnitSpec(unit_id="u1", name="t", command=["x"], gpus=[1], labels=LABELS))
    sampler = Sampler(SimulatedGpus(2, "host"), runtime, client=None)
    sampler.host = "gpu-7"
    sampler.sample()
    text = generate_latest(dcgm.registry(sampler.latest)).decode()
    families = {f.name: f.samples for f in text_string_to_metric_families(text)}
    assert set(dcgm.NAMES) <= set(families)
    held = next(s for s in families["DCGM_FI_DEV_FB_FREE"] if s.labels["gpu"] == "1")
    assert held.labels["Hostname"] == "gpu-7" and held.labels["device"] == "nvidia1"
    assert held.labels["dllab_workload"] == "w" * 32 and held.labels["dllab_visible_gpu"] == "0"
    assert held.labels["dllab_simulated"] == "true"
    free = next(s for s in families["DCGM_FI_DEV_GPU_UTIL"] if s.labels["gpu"] == "0")
    assert free.labels["dllab_unit"] == "" and free.value == 0


def test_the_agent_serves_its_metrics_over_http():
    sampler = Sampler(SimulatedGpus(1, "host"), FakeRuntime(), client=None)
    sampler.sample()
    server = serve_metrics(sampler, 0, "127.0.0.1")
    assert server is not None
    try:
        answer = httpx.get(f"http://127.0.0.1:{server.server_port}/metrics")
        assert answer.status_code == 200 and "DCGM_FI_DEV_GPU_UTIL{" in answer.text
    finally:
        server.shutdown()
        server.server_close()


def test_a_process_trees_cpu_time_and_memory_are_read_from_proc():
    end = time.process_time() + 0.05
    while time.process_time() < end:
        pass
    usage = process_tree_usage(os.getpid())
    assert usage is not None and usage.cpu_seconds >= 0.05 and usage.memory_mib > 10
    assert process_tree_usage(2**22 + 1) is None  # above any pid_max: no such process
