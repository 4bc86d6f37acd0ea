"""``dllab up`` (what ``make run`` runs) as a new user meets it: a console that answers
through the edge proxy, JupyterHub behind the same proxy, a login that works, a local agent
online with its GPUs, and Ctrl-C stopping everything."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from ports import free_ports


def test_up_serves_the_console_with_an_online_agent_and_stops_on_ctrl_c(tmp_path: Path):
    port, edge, edge_api, hub, agent_metrics = free_ports(5)
    home = tmp_path / "dllab-home"
    env = {**os.environ, "DLLAB_HOME": str(home), "DLLAB_PORT": str(port),
           "DLLAB_EDGE_PORT": str(edge), "DLLAB_EDGE_API_PORT": str(edge_api),
           "DLLAB_HUB_PORT": str(hub), "DLLAB_AGENT_METRICS_PORT": str(agent_metrics)}
    env.pop("DLLAB_ADMIN_PASSWORD", None)
    up = subprocess.Popen([sys.executable, "-m", "dllab.cli", "up"], env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          start_new_session=True)  # its own group, as a terminal gives it
    output: list[str] = []
    try:
        assert up.stdout is not None
        deadline = time.monotonic() + 90
        for line in up.stdout:
            output.append(line)
            if "Press Ctrl-C to stop." in line or time.monotonic() > deadline:
                break
        banner = "".join(output)
        assert "DLLab is up." in banner, banner
        assert f"Console:     http://127.0.0.1:{edge}/" in banner
        assert f"JupyterHub:  http://127.0.0.1:{edge}/jupyter/" in banner
        password = re.search(r"password (\S+) \(printed only now", banner).group(1)
        assert (home / "admin-password").read_text().strip() == password
        # 4 simulated GPUs where NVML finds none (CI), the real ones where it does.
        gpus = re.search(r"Local agent: host '\S+' online, runtime \w+, (\d+) (simulated )?GPUs",
                         banner)
        assert gpus, banner

        base = f"http://127.0.0.1:{edge}"  # everything through the edge proxy
        token = httpx.post(f"{base}/api/v1/auth/token",
                           data={"username": "admin", "password": password}).json()
        assert "<title>DLLab</title>" in httpx.get(f"{base}/").text
        assert httpx.get(f"{base}/jupyter/hub/api").json()["version"]
        # The runtime image is in the catalogue, so that a first environment needs no admin.
        assert [i["reference"] for i in httpx.get(f"{base}/api/v1/images", headers={
            "Authorization": f"Bearer {token['access_token']}"}).json()["data"]] == [
            "dllab/runtime:tf-cpu"]
        hosts = httpx.get(f"{base}/api/v1/hosts", headers={
            "Authorization": f"Bearer {token['access_token']}"}).json()
        assert hosts["count"] == 1
        host = hosts["data"][0]
        assert host["status"] == "online"
        assert len(host["gpus"]) == int(gpus.group(1))
        assert all(g["simulated"] for g in host["gpus"]) == bool(gpus.group(2))
        # Its GPUs, as Prometheus scrapes them from the agent (sampled every second).
        agent_metrics = re.search(r"the agent's: (\S+/metrics)", banner).group(1)
        deadline = time.monotonic() + 30
        while "DCGM_FI_DEV_GPU_UTIL{" not in (scraped := httpx.get(agent_metrics).text):
            assert time.monotonic() < deadline, scraped
            time.sleep(0.2)
        assert f"GPU metrics: http://127.0.0.1:{port}/metrics" in banner
    finally:
        os.killpg(up.pid, signal.SIGINT)  # what Ctrl-C in its terminal does
        up.wait(90)  # it gives each of its processes up to 15 s to stop
        up.stdout.close()
    leftovers = subprocess.run(["pgrep", "-f", str(home)],
                               capture_output=True, text=True).stdout
    assert leftovers == "", leftovers
    for stopped in (port, edge):
        try:
            httpx.get(f"http://127.0.0.1:{stopped}/api/v1/health", timeout=2)
            raise AssertionError(f"port {stopped} still answers after Ctrl-C")
        except httpx.ConnectError:
            pass
