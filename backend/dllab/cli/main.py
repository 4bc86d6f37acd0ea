from __future__ import annotations

from importlib.metadata import entry_points

import click

from dllab.cli.alerts import alerts
from dllab.cli.client import Api, save_login, table
from dllab.cli.environments import env
from dllab.cli.jobs import job
from dllab.cli.local import edge, hub, server, up
from dllab.cli.models import model
from dllab.cli.secrets import secrets
from dllab.cli.services import service


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dllab")
def main() -> None:
    """DLLab: dev environments, training jobs and prediction services on your GPU hosts."""


@main.command()
@click.option("--server", envvar="DLLAB_SERVER", default="http://127.0.0.1:8000",
              show_default=True, help="Control-plane URL.")
@click.option("--username", prompt=True, help="Your DLLab user name.")
@click.option("--password", prompt=True, hide_input=True, envvar="DLLAB_PASSWORD",
              help="Your password (prompted when not given).")
def login(server: str, username: str, password: str) -> None:
    """Log in and keep the token in your config (~/.config/dllab/config.json)."""
    answer = Api(server, None).call("POST", "/auth/token",
                                    data={"username": username, "password": password})
    path = save_login(server, answer["access_token"])
    click.echo(f"Logged in to {server} as {username}; token saved in {path} "
               f"(expires {answer['expires_at']}).")


@main.command()
def hosts() -> None:
    """List GPU hosts, their status and GPUs."""
    page = Api.from_config().call("GET", "/hosts", params={"limit": 500})
    rows = [{**h, "gpus": _gpus(h["gpus"])} for h in page["data"]]
    click.echo(table(rows, ["name", "status", "runtime", "address", "gpus", "last_seen_at"]))


def _gpus(gpus: list[dict[str, object]]) -> str:
    if not gpus:
        return "0"
    simulated = " (simulated)" if any(g["simulated"] for g in gpus) else ""
    return f"{len(gpus)} x {gpus[0]['model']}{simulated}"


@main.group()
def host() -> None:
    """Manage GPU hosts (admin)."""


@host.command("add")
@click.argument("name")
def host_add(name: str) -> None:
    """Add host NAME and print the command that starts its agent (with its token)."""
    created = Api.from_config().call("POST", "/hosts", json={"name": name})
    click.echo(f"Host {created['name']} added. Its token is shown only now.\n"
               f"On the GPU host, run:\n\n  {created['agent_command']}\n")


@host.command("remove")
@click.argument("name")
def host_remove(name: str) -> None:
    """Remove host NAME; its token stops working. Refused while it is online and runs
    units; an offline host's units are lost with it and handled by their policy."""
    api = Api.from_config()
    page = api.call("GET", "/hosts", params={"limit": 500})
    match = [h for h in page["data"] if h["name"] == name]
    if not match:
        raise click.ClickException(f"no host {name!r}")
    api.call("DELETE", f"/hosts/{match[0]['id']}")
    click.echo(f"Host {name} removed.")


@main.command()
def queue() -> None:
    """List the workloads waiting for GPUs, in order, with why each waits (yours; every
    one for an admin)."""
    page = Api.from_config().call("GET", "/queue", params={"limit": 500})
    click.echo(table(page["data"], ["position", "name", "kind", "owner", "priority", "gpus",
                                    "submitted_at", "reason"]))


@main.command()
def cluster() -> None:
    """Show every GPU of every host: free, or the unit and user holding it (admin)."""
    api = Api.from_config()
    answer = api.call("GET", "/cluster", params={"limit": 500})
    waiting = {e["workload"]: e["name"] for e in
               api.call("GET", "/queue", params={"limit": 500})["data"]}
    rows = []
    for host in answer["hosts"]:
        for gpu in host["gpus"]:
            held = gpu["held_by"]
            rows.append({"host": host["name"], "status": host["status"], "gpu": gpu["index"],
                         "held_by": f"{held['owner']}/{held['unit_name']} "
                                    f"(sees GPU {held['visible_index']})" if held else "free",
                         "reserved_for": waiting.get(host["reserved_for"], "")})
    click.echo(table(rows, ["host", "status", "gpu", "held_by", "reserved_for"]))
    click.echo(f"{answer['gpus_free']} of {answer['gpus']} online GPUs free; "
               f"{answer['queued']} workload(s) queued.")


@main.group(invoke_without_command=True)
@click.pass_context
def images(ctx: click.Context) -> None:
    """List the runtime images users may pick (subcommands add and remove them, admin)."""
    if ctx.invoked_subcommand is None:
        page = Api.from_config().call("GET", "/images", params={"limit": 500})
        click.echo(table(page["data"], ["id", "reference", "framework", "framework_version",
                                        "gpu", "description"]))


@images.command("add")
@click.argument("reference")
@click.option("--framework", default="tensorflow", show_default=True)
@click.option("--version", "framework_version", required=True, help="e.g. 2.21.0")
@click.option("--gpu", is_flag=True, help="A GPU build of the framework.")
@click.option("--description", default="")
def images_add(reference: str, framework: str, framework_version: str, gpu: bool,
               description: str) -> None:
    """Offer image REFERENCE (name:tag, built on the docker hosts) to users."""
    name, _, tag = reference.rpartition(":")
    if not name:
        raise click.BadParameter("give it as name:tag, e.g. dllab/runtime:tf2.21-cpu",
                                 param_hint="REFERENCE")
    created = Api.from_config().call("POST", "/images", json={
        "name": name, "tag": tag, "framework": framework,
        "framework_version": framework_version, "gpu": gpu, "description": description})
    click.echo(f"Image {created['reference']} added (id {created['id']}).")


@images.command("remove")
@click.argument("image_id", type=int)
def images_remove(image_id: int) -> None:
    """Take image IMAGE_ID out of the catalogue."""
    Api.from_config().call("DELETE", f"/images/{image_id}")
    click.echo(f"Image {image_id} removed from the catalogue.")


@main.command("ssh-keys")
@click.option("--set", "files", multiple=True, type=click.File(),
              help="Replace your keys with those in these .pub files (repeat the option).")
def ssh_keys(files: tuple[click.utils.LazyFile, ...]) -> None:
    """List your SSH public keys, or replace them (environments let them in)."""
    api = Api.from_config()
    if files:
        keys = [line for f in files for line in f.read().splitlines() if line.strip()]
        answer = api.call("PUT", "/users/me/ssh-keys", json={"keys": keys})
    else:
        answer = api.call("GET", "/users/me/ssh-keys")
    click.echo(table(answer["keys"], ["type", "fingerprint", "comment"]))


@main.group()
def user() -> None:
    """Manage users (admin)."""


@user.command("quota")
@click.argument("username")
@click.argument("gpus")
def user_quota(username: str, gpus: str) -> None:
    """Limit USERNAME to GPUS GPUs at once (a number, or "unlimited"); work past it waits
    in the queue."""
    if gpus != "unlimited" and not gpus.isdigit():
        raise click.BadParameter("a number of GPUs, or 'unlimited'", param_hint="GPUS")
    api = Api.from_config()
    page = api.call("GET", "/users", params={"limit": 500})
    match = [u for u in page["data"] if u["username"] == username]
    if not match:
        raise click.ClickException(f"no user {username!r}")
    quota = None if gpus == "unlimited" else int(gpus)
    api.call("PATCH", f"/users/{match[0]['id']}", json={"gpu_quota": quota})
    click.echo(f"{username} may now hold {gpus if quota is None else quota} GPU(s) at once.")


@main.command()
def gpus() -> None:
    """Show every GPU's latest readings (utilization, memory, temperature, power) and who
    holds it, for hosts heard from in the last 5 s."""
    answer = Api.from_config().call("GET", "/metrics/gpus/now")
    rows = []
    for host in answer["hosts"]:
        for gpu in host["gpus"]:
            held = gpu["holder"]
            rows.append({
                "host": host["host"], "gpu": gpu["index"],
                "util": "-" if gpu["utilization_pct"] is None else f"{gpu['utilization_pct']}%",
                "memory": f"{gpu['memory_used_mib']}/{gpu['memory_total_mib']} MiB",
                "temp": "-" if gpu["temperature_c"] is None else f"{gpu['temperature_c']} C",
                "power": "-" if gpu["power_w"] is None else f"{gpu['power_w']:.0f} W",
                "held_by": f"{held['owner']}/{held['kind']} (sees GPU {held['visible_index']})"
                           if held else "free"})
    click.echo(table(rows, ["host", "gpu", "util", "memory", "temp", "power", "held_by"])
               if rows else "No GPU readings in the last 5 s: no agent is sending any.")


@main.group(invoke_without_command=True)
@click.pass_context
def tokens(ctx: click.Context) -> None:
    """List your personal API tokens (subcommands create and revoke them)."""
    if ctx.invoked_subcommand is None:
        page = Api.from_config().call("GET", "/tokens", params={"limit": 500})
        click.echo(table(page["data"], ["id", "name", "prefix", "created_at", "expires_at",
                                        "last_used_at"]))


@tokens.command("create")
@click.argument("name")
@click.option("--expires-in-days", type=click.IntRange(1, 3650), default=None,
              help="Lifetime; without it the token is valid until revoked.")
def tokens_create(name: str, expires_in_days: int | None) -> None:
    """Create a personal API token NAME and print its secret (shown only once)."""
    created = Api.from_config().call("POST", "/tokens", json={
        "name": name, "expires_in_days": expires_in_days})
    click.echo(f"Token {created['id']} ({name}): {created['token']}\nStore it now: "
               "it is not shown again.")


@tokens.command("revoke")
@click.argument("token_id", type=int)
def tokens_revoke(token_id: int) -> None:
    """Revoke your token TOKEN_ID; it stops working at once."""
    Api.from_config().call("DELETE", f"/tokens/{token_id}")
    click.echo(f"Token {token_id} revoked.")


for command in (env, job, model, service, secrets, alerts, server, edge, hub, up):
    main.add_command(command)
# Commands of other installed packages (the agent's ``dllab agent``).
for entry in entry_points(group="dllab.commands"):
    main.add_command(entry.load())
