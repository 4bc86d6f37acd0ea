"""``dllab agent``: the agent's command, plugged into ``dllab`` by an entry point."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click

from dllab_agent.client import ControlPlaneError
from dllab_agent.gpu import nvml_available
from dllab_agent.main import AgentFailed, run_agent
from dllab_agent.sampling import METRICS_PORT

STATE_DIR = Path(os.environ.get("DLLAB_AGENT_STATE_DIR", "/var/lib/dllab-agent"))


@click.command()
@click.option("--server", "server_url", required=True, envvar="DLLAB_SERVER",
              help="Control-plane URL, as this host reaches it.")
@click.option("--token", required=True, envvar="DLLAB_HOST_TOKEN",
              help="Host token from 'dllab host add'. Prefer the DLLAB_HOST_TOKEN "
              "environment variable: other local users can read command lines.")
@click.option("--runtime", type=click.Choice(["docker", "process"]), default=None,
              help="How units run. Default: docker when an engine answers, else process.")
@click.option("--simulate-gpus", type=click.IntRange(1, 64), default=None,
              help="Report N simulated GPUs instead of probing NVML (hosts without GPUs).")
@click.option("--simulate-gpus-if-none", type=click.IntRange(1, 64), default=None,
              help="Report N simulated GPUs only where NVML finds no GPU (laptops, CI).")
@click.option("--state-dir", type=click.Path(path_type=Path), default=STATE_DIR,
              show_default=True, help="Where the agent keeps unit state and logs.")
@click.option("--broker", default=None,
              help="Broker URL, when the one the control plane hands out is not reachable.")
@click.option("--address", default=None,
              help="Address other hosts reach this one by. "
              "Default: the local address that routes to the control plane.")
@click.option("--volume-root", "volume_roots", multiple=True,
              type=click.Path(path_type=Path, exists=True, file_okay=False),
              envvar="DLLAB_VOLUME_ROOTS",
              help="A host directory (an NFS mount, say) under which units may mount paths; "
                   "repeat for several. Without one, units mount no host path.")
@click.option("--workspace-root", type=click.Path(path_type=Path, file_okay=False),
              envvar="DLLAB_WORKSPACE_ROOT", default=None,
              help="Where environments' workspaces are kept (default STATE_DIR/workspaces). "
                   "On shared storage (NFS), an environment keeps its files on any host.")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=METRICS_PORT,
              show_default=True, envvar="DLLAB_AGENT_METRICS_PORT",
              help="Serve this host's GPU metrics (DCGM names) for Prometheus on "
                   "http://ADDRESS:PORT/metrics (ADDRESS: see --address); 0: do not serve "
                   "them.")
def agent(server_url: str, token: str, runtime: str | None, simulate_gpus: int | None,
          simulate_gpus_if_none: int | None, state_dir: Path, broker: str | None,
          address: str | None, volume_roots: tuple[Path, ...],
          workspace_root: Path | None, metrics_port: int) -> None:
    """Run the agent of this GPU host: it registers, heartbeats and runs units."""
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s agent %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per heartbeat otherwise
    if simulate_gpus is None and simulate_gpus_if_none and not nvml_available():
        simulate_gpus = simulate_gpus_if_none
    try:
        run_agent(server=server_url, token=token, runtime_kind=runtime,
                  simulate_gpus=simulate_gpus, state_dir=state_dir, broker_url=broker,
                  address=address, volume_roots=volume_roots,
                  workspace_root=workspace_root, metrics_port=metrics_port or None)
    except (ControlPlaneError, AgentFailed) as exc:
        raise click.ClickException(str(exc)) from exc
