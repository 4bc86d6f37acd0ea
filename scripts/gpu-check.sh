#!/usr/bin/env bash
# The real-GPU check of GPU monitoring: on a machine with an NVIDIA GPU, discover the GPUs
# through the agent's NVML code, time its reads, sample GPU 0 once a second while a matmul
# loop runs on it (TensorFlow if it imports, else PyTorch), and print the readings: the
# utilization must rise while the loop runs and fall after. Also checks that
# CUDA_VISIBLE_DEVICES remaps the last GPU to device 0 for the framework.
#
# Usage: scripts/gpu-check.sh   (from the repository root; needs nvidia-ml-py, pydantic
# and kombu importable, plus TensorFlow or PyTorch with CUDA). Exit status 0: all held.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/backend:$PWD/workers${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python3}" - <<'EOF'
import os, subprocess, sys, threading, time

from dllab_agent.gpu import nvml
from dllab_agent.runtime.base import Holding
from dllab_agent.sampling import Sampler

gpus = nvml.NvmlGpus.open()
if gpus is None:
    sys.exit("NVML found no GPU here")
first = gpus.read()
for gpu in first:
    print(f"GPU {gpu.index}: {gpu.model} {gpu.uuid} {gpu.memory_total_mib} MiB")

class NoUnits:  # the sampler's runtime: nothing holds the GPUs in this check
    def holdings(self) -> list[Holding]:
        return []

sampler = Sampler(gpus, NoUnits(), client=None)
start = time.perf_counter(); cpu = time.process_time()
for _ in range(50):
    sampler.sample()
wall, cpu = (time.perf_counter() - start) / 50, (time.process_time() - cpu) / 50
print(f"one sample of {len(first)} GPU(s): {wall * 1000:.2f} ms wall, {cpu * 1000:.2f} ms CPU "
      f"= {cpu * 100:.3f}% of a core at 1 Hz")

WORK = r"""
import sys, time
try:
    import tensorflow as tf
    framework = "tensorflow " + tf.__version__
    devices = [d.name for d in tf.config.list_physical_devices("GPU")]
    a = tf.random.normal((8192, 8192))
    def step():
        return float(tf.reduce_sum(tf.matmul(a, a)))
except ImportError:
    import torch
    framework = "torch " + torch.__version__
    devices = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    a = torch.randn(8192, 8192, device="cuda")
    def step():
        return float((a @ a).sum())
print(f"{framework}; GPUs it sees: {devices}", flush=True)
end = time.time() + float(sys.argv[1])
steps = 0
while time.time() < end:
    step(); steps += 1
print(f"{steps} matmul steps", flush=True)
"""

last = str(len(first) - 1)
seen = subprocess.run([sys.executable, "-c", WORK, "0"], capture_output=True, text=True,
                      env={**os.environ, "CUDA_VISIBLE_DEVICES": last})
print(f"with CUDA_VISIBLE_DEVICES={last}: {seen.stdout.strip() or seen.stderr[-2000:]}")
if seen.returncode != 0 or "[]" in seen.stdout:
    sys.exit("the framework saw no GPU under CUDA_VISIBLE_DEVICES")

readings = []
def watch(stop: threading.Event) -> None:
    while not stop.is_set():
        g = sampler.sample().gpus[0]
        readings.append(g)
        print(f"  util {g.utilization_pct}%  mem {g.memory_used_mib}/{g.memory_total_mib} MiB"
              f"  {g.temperature_c} C  {g.power_w} W  SM {g.sm_clock_mhz} MHz"
              f"  ECC {g.ecc_uncorrected}  XID {g.xid_last}", flush=True)
        stop.wait(1.0)

stop = threading.Event()
watcher = threading.Thread(target=watch, args=(stop,)); watcher.start()
time.sleep(3)
idle = len(readings)
work = subprocess.run([sys.executable, "-c", WORK, "15"], capture_output=True, text=True,
                      env={**os.environ, "CUDA_VISIBLE_DEVICES": "0"})
busy = len(readings)
time.sleep(3)
stop.set(); watcher.join()
print(work.stdout.strip() or work.stderr[-2000:])
before = max(g.utilization_pct or 0 for g in readings[:idle])
during = max(g.utilization_pct or 0 for g in readings[idle:busy])
print(f"utilization before the matmuls: {before}%, during: {during}%")
if work.returncode != 0 or during <= before or during < 50:
    sys.exit("utilization did not rise while the GPU worked")
print("GPU check passed")
EOF
