"""``dllab env``: dev environments from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from dllab.cli.client import Api, follow, table

STEADY = {"running", "stopped", "failed"}


@click.group("env")
def env() -> None:
    """Dev environments: JupyterLab, TensorBoard and SSH on N GPUs."""


@env.command("list")
def env_list() -> None:
    """List your environments (everyone's, for an admin)."""
    page = Api.from_config().call("GET", "/environments", params={"limit": 500})
    rows = [{**e, "state": _state(e)} for e in page["data"]]
    click.echo(table(rows, ["name", "owner", "image", "gpus", "state", "host"]))


@env.command("create")
@click.argument("name")
@click.option("--image", default="dllab/runtime:tf-cpu", show_default=True,
              help="name:tag from `dllab images`.")
@click.option("--gpus", type=click.IntRange(0, 64), default=0, show_default=True)
@click.option("--cpus", type=float, default=None, help="CPU limit (default: none).")
@click.option("--memory-mib", type=int, default=None, help="Memory limit (default: none).")
@click.option("--volume", "volumes", multiple=True, metavar="SOURCE:MOUNT[:ro]",
              help="A host path under an allowed root, mounted at MOUNT; repeatable.")
@click.option("--ssh-key", "ssh_keys", multiple=True, type=click.Path(
    exists=True, dir_okay=False, path_type=Path),
              help="A .pub file to let in over SSH (default: your profile's keys).")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Show progress until it runs.")
def env_create(name: str, image: str, gpus: int, cpus: float | None, memory_mib: int | None,
               volumes: tuple[str, ...], ssh_keys: tuple[Path, ...], wait: bool) -> None:
    """Create environment NAME and start it."""
    body: dict[str, Any] = {"name": name, "image": image, "gpus": gpus,
                            "volumes": [_volume(v) for v in volumes]}
    if cpus is not None:
        body["cpus"] = cpus
    if memory_mib is not None:
        body["memory_mib"] = memory_mib
    if ssh_keys:
        body["ssh_public_keys"] = [k.read_text().strip() for k in ssh_keys]
    api = Api.from_config()
    created = api.call("POST", "/environments", json=body)
    click.echo(f"Environment {name} created ({created['state']}).")
    if wait:
        _follow(api, created["id"])


@env.command("show")
@click.argument("name")
def env_show(name: str) -> None:
    """Show environment NAME: state, GPUs, phases, links and the ssh command."""
    api = Api.from_config()
    _print(api.call("GET", f"/environments/{_find(api, name)}"))


@env.command("stop")
@click.argument("name")
def env_stop(name: str) -> None:
    """Stop environment NAME and free its GPUs; its workspace is kept."""
    api = Api.from_config()
    stopped = api.call("POST", f"/environments/{_find(api, name)}/stop")
    click.echo(f"Environment {name}: {_state(stopped)}.")


@env.command("start")
@click.argument("name")
@click.option("--wait/--no-wait", default=True, show_default=True)
def env_start(name: str, wait: bool) -> None:
    """Start environment NAME again, on its kept workspace."""
    api = Api.from_config()
    environment_id = _find(api, name)
    started = api.call("POST", f"/environments/{environment_id}/start")
    click.echo(f"Environment {name}: {_state(started)}.")
    if wait:
        _follow(api, environment_id)


@env.command("delete")
@click.argument("name")
@click.confirmation_option(prompt="Delete the environment and its workspace?")
def env_delete(name: str) -> None:
    """Delete environment NAME and its workspace (cannot be undone)."""
    api = Api.from_config()
    api.call("DELETE", f"/environments/{_find(api, name)}")
    click.echo(f"Environment {name} deleted.")


def _find(api: Api, name: str) -> str:
    me = api.call("GET", "/users/me")["username"]
    page = api.call("GET", "/environments", params={"limit": 500})["data"]
    matches = [e for e in page if e["name"] == name]
    mine = [e for e in matches if e["owner"] == me]
    if mine or len(matches) == 1:
        return str((mine or matches)[0]["id"])
    if not matches:
        raise click.ClickException(f"no environment named {name!r}")
    raise click.ClickException(f"several users have an environment named {name!r}")


def _volume(text: str) -> dict[str, Any]:
    parts = text.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
        raise click.BadParameter(f"{text!r}: expected SOURCE:MOUNT or SOURCE:MOUNT:ro",
                                 param_hint="--volume")
    return {"source": parts[0], "mount_path": parts[1],
            "read_only": len(parts) == 3 and parts[2] == "ro"}


def _follow(api: Api, environment_id: str, timeout: float = 3600) -> None:
    """Print each change of state until it runs, stops or fails."""
    current = follow(api, f"/environments/{environment_id}", _state,
                     lambda e: e["state"] in STEADY, timeout)
    if current is None:
        raise click.ClickException("still not running; `dllab env show` tells where it is")
    _print(current)
    if current["state"] == "failed":
        raise click.ClickException("the environment failed")


def _state(e: dict[str, Any]) -> str:
    where = f" (#{e['position']} in the queue)" if e.get("position") else ""
    return f"{e['state']}{where}" + (f": {e['reason']}" if e.get("reason") else "")


def _print(e: dict[str, Any]) -> None:
    where = f" on {e['host']}" if e["host"] else ""
    lines = [f"{e['name']} ({e['owner']}): {_state(e)}",
             f"  image {e['image']}, {e['gpus']} GPU(s){where}"]
    lines += [f"  GPU {d['index']} -> seen as {d['visible_index']}"
              + (" (simulated)" if d["simulated"] else "") for d in e["devices"]]
    timed = [f"{p['name']} +{p['seconds']:.1f}s" for p in e["phases"] if p["seconds"] is not None]
    if timed:
        lines.append("  start: " + ", ".join(timed))
    if e["urls"]:
        lines += [f"  Jupyter:     {e['urls']['jupyter']}",
                  f"  TensorBoard: {e['urls']['tensorboard']}"]
    if e["ssh"]:
        lines.append(f"  SSH:         {e['ssh']['command']}")
    click.echo("\n".join(lines))
