"""``dllab alerts``: what GPU monitoring raised, and the rules that raise it (admin)."""

from __future__ import annotations

from typing import Any

import click

from dllab.cli.client import Api, table

METRICS_HELP = ("gpu_util (%), memory_used_pct (%), temperature_c, power_w, sm_clock_mhz, "
                "ecc_errors, xid_errors or host_silent_seconds")
OPS = click.Choice([">", "<"])
SEVERITIES = click.Choice(["info", "warning", "critical"])


@click.group("alerts", invoke_without_command=True)
@click.pass_context
def alerts(ctx: click.Context) -> None:
    """List alerts, newest first (yours; every one for an admin). Subcommands list them
    and manage the rules that raise them (admin)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(alerts_list)


@alerts.command("list")
@click.option("--firing", is_flag=True, help="Only those still firing.")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True,
              help="Show at most this many, the newest.")
def alerts_list(firing: bool, limit: int) -> None:
    """List alerts, newest first: on GPUs your workloads held (every one for an admin)."""
    params: dict[str, Any] = {"limit": limit, **({"state": "firing"} if firing else {})}
    page = Api.from_config().call("GET", "/alerts", params=params)
    rows = [{**a, "where": a["host"] if a["gpu"] is None else f"{a['host']} GPU {a['gpu']}",
             "owner": a["owner"] or ""} for a in page["data"]]
    click.echo(table(rows, ["id", "state", "severity", "rule", "where", "owner", "started_at",
                            "message"]))
    if page["count"] > len(rows):
        click.echo(f"({len(rows)} newest of {page['count']}; --limit shows more)")


@alerts.command("rules")
def alerts_rules() -> None:
    """List the alert rules (admin)."""
    rows = [{**r, "condition": _condition(r), "scope": _scope(r),
             "enabled": "yes" if r["enabled"] else "no",
             "webhook": r["webhook_url"] or ""}
            for r in _all(Api.from_config(), "/alerts/rules", {})]
    click.echo(table(rows, ["id", "name", "condition", "severity", "scope", "enabled",
                            "webhook"]))


@alerts.command("rule-add")
@click.argument("name")
@click.option("--metric", required=True, help=METRICS_HELP)
@click.option("--op", required=True, type=OPS, help="Fire while the value is above (>) "
              "or below (<) the threshold (quote them in a shell).")
@click.option("--threshold", required=True, type=float)
@click.option("--for", "duration", type=click.FloatRange(min=0), default=0.0,
              show_default=True, help="Seconds the condition must hold before it fires.")
@click.option("--severity", type=SEVERITIES, default="warning", show_default=True)
@click.option("--host", help="Judge only this host (default: every host).")
@click.option("--allocated-only", is_flag=True,
              help="Judge only GPUs that a workload holds; its owner sees the alert.")
@click.option("--webhook", help="POST each firing and resolving here as JSON.")
@click.option("--disabled", is_flag=True, help="Add it switched off.")
def rule_add(name: str, metric: str, op: str, threshold: float, duration: float,
             severity: str, host: str | None, allocated_only: bool, webhook: str | None,
             disabled: bool) -> None:
    """Add alert rule NAME (admin), e.g.

    \b
      dllab alerts rule-add gpu-warm --metric temperature_c --op '>' --threshold 80 \\
          --for 120 --webhook https://hooks.example.com/dllab
    """
    rule = Api.from_config().call("POST", "/alerts/rules", json={
        "name": name, "metric": metric, "op": op, "threshold": threshold,
        "duration_seconds": duration, "severity": severity, "host": host,
        "allocated_only": allocated_only, "enabled": not disabled, "webhook_url": webhook})
    click.echo(f"Alert rule {rule['name']} added (id {rule['id']}): {_condition(rule)}.")


@alerts.command("rule-set")
@click.argument("rule")
@click.option("--name", help="A new name.")
@click.option("--metric", help=METRICS_HELP)
@click.option("--op", type=OPS)
@click.option("--threshold", type=float)
@click.option("--for", "duration", type=click.FloatRange(min=0))
@click.option("--severity", type=SEVERITIES)
@click.option("--host", help="Judge only this host.")
@click.option("--all-hosts", is_flag=True, help="Judge every host again.")
@click.option("--allocated-only/--any-gpu", default=None)
@click.option("--enable/--disable", default=None)
@click.option("--webhook", help="POST each firing and resolving here.")
@click.option("--no-webhook", is_flag=True, help="Send no webhooks any more.")
def rule_set(rule: str, name: str | None, metric: str | None, op: str | None,
             threshold: float | None, duration: float | None, severity: str | None,
             host: str | None, all_hosts: bool, allocated_only: bool | None,
             enable: bool | None, webhook: str | None, no_webhook: bool) -> None:
    """Change alert rule RULE (its id or name; admin): only the options given."""
    if host and all_hosts:
        raise click.UsageError("give --host or --all-hosts, not both")
    if webhook and no_webhook:
        raise click.UsageError("give --webhook or --no-webhook, not both")
    changes: dict[str, Any] = {k: v for k, v in {
        "name": name, "metric": metric, "op": op, "threshold": threshold,
        "duration_seconds": duration, "severity": severity, "host": host,
        "allocated_only": allocated_only, "enabled": enable, "webhook_url": webhook,
    }.items() if v is not None}
    if all_hosts:
        changes["host"] = None
    if no_webhook:
        changes["webhook_url"] = None
    if not changes:
        raise click.UsageError("nothing to change: give at least one option")
    api = Api.from_config()
    updated = api.call("PATCH", f"/alerts/rules/{_rule_id(api, rule)}", json=changes)
    click.echo(f"Alert rule {updated['name']} changed: {_condition(updated)}, "
               f"{_scope(updated)}, {'enabled' if updated['enabled'] else 'disabled'}.")


@alerts.command("rule-rm")
@click.argument("rule")
def rule_rm(rule: str) -> None:
    """Remove alert rule RULE (its id or name; admin). Its open alerts resolve."""
    api = Api.from_config()
    api.call("DELETE", f"/alerts/rules/{_rule_id(api, rule)}")
    click.echo(f"Alert rule {rule} removed.")


def _rule_id(api: Api, ref: str) -> int:
    if ref.isdigit():
        return int(ref)
    named = [r for r in _all(api, "/alerts/rules", {}) if r["name"] == ref]
    if not named:
        raise click.ClickException(f"no alert rule named {ref!r}")
    return int(named[0]["id"])


def _condition(rule: dict[str, Any]) -> str:
    threshold = f"{rule['threshold']:g}"
    held = f" for {rule['duration_seconds']:g} s" if rule["duration_seconds"] else ""
    return f"{rule['metric']} {rule['op']} {threshold}{held}"


def _scope(rule: dict[str, Any]) -> str:
    where = rule["host"] or "every host"
    return f"{where}, held GPUs" if rule["allocated_only"] else where


def _all(api: Api, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        page = api.call("GET", path, params={**params, "offset": len(found), "limit": 500})
        found += page["data"]
        if not page["data"] or len(found) >= page["count"]:
            return found
