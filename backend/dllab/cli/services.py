"""``dllab service``: prediction services from the command line.

A service serves a version of one of your models with TensorFlow Serving's REST API, on N
replicas behind the edge proxy; a canary sends part of the requests to another version.
SERVICE is a service's id or name (names are unique across users: they are in the URL).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from typing import Any, TextIO

import click
import httpx

from dllab.cli.client import Api, find, follow, table

STEADY = {"serving", "failing", "stopped"}
METRICS = ["rps", "inflight", "latency_p95", "gpu_util"]
DEFAULT_SIGNATURE = "serving_default"


@click.group("service")
def service() -> None:
    """Prediction services: serve a model version, roll out, canary, predict."""


def _version_options(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        command = click.option("--label", default=None,
                               help=f"{what}: the version a label points at.")(command)
        return click.option("--version", type=click.IntRange(1), default=None,
                            help=f"{what}: this version.")(command)
    return decorate


def _autoscale_options(command: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--autoscale-min", type=click.IntRange(1, 64), default=None,
                     help="Autoscale: fewest replicas (default 1)."),
        click.option("--autoscale-max", type=click.IntRange(1, 64), default=None,
                     help="Autoscale: most replicas (default 4)."),
        click.option("--autoscale-metric", type=click.Choice(METRICS), default=None,
                     help="Autoscale on: requests/s or in flight per replica, p95 latency "
                          "(ms), GPU utilization (%) (default rps)."),
        click.option("--autoscale-target", type=float, default=None,
                     help="Autoscale: the metric's value to keep per replica (latency: to "
                          "stay under); giving it turns autoscaling on."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@service.command("list")
def service_list() -> None:
    """List your services (everyone's, for an admin)."""
    page = Api.from_config().call("GET", "/services", params={"limit": 500})
    rows = [{**s, "versions": _versions(s), "replicas": _ready(s)} for s in page["data"]]
    click.echo(table(rows, ["name", "owner", "model", "status", "versions", "replicas",
                            "url"]))


@service.command("create")
@click.argument("name")
@click.option("--model", "model_ref", required=True, metavar="MODEL",
              help="One of your models (name or id).")
@_version_options("Serve")
@click.option("--replicas", type=click.IntRange(0, 64), default=1, show_default=True)
@click.option("--gpus", type=click.IntRange(0, 16), default=0, show_default=True,
              help="GPUs per replica.")
@click.option("--image", default=None,
              help="name:tag from `dllab images` with TensorFlow and dllab-serve (default: "
                   "dllab/runtime:tf-cpu).")
@_autoscale_options
@click.option("--token", is_flag=True, help="Require an access token (shown only now).")
@click.option("--wait", is_flag=True, help="Show progress until it serves (or fails).")
def service_create(name: str, model_ref: str, version: int | None, label: str | None,
                   replicas: int, gpus: int, image: str | None, autoscale_min: int | None,
                   autoscale_max: int | None, autoscale_metric: str | None,
                   autoscale_target: float | None, token: bool, wait: bool) -> None:
    """Serve a version of MODEL (--version, --label, or the newest) as service NAME, and
    print its URL and an example request (with the token, when asked for, shown only now)."""
    api = Api.from_config()
    if re.fullmatch(r"[0-9a-f]{32}", model_ref):  # an id: the API takes the name
        model_ref = api.call("GET", f"/models/{model_ref}")["name"]
    body: dict[str, Any] = {"name": name, "model": model_ref, "replicas": replicas,
                            "gpus_per_replica": gpus, "token": token}
    for key, value in (("version", version), ("label", label), ("image", image),
                       ("autoscale", _autoscale(autoscale_min, autoscale_max,
                                                autoscale_metric, autoscale_target))):
        if value is not None:
            body[key] = value
    created = api.call("POST", "/services", json=body)
    click.echo(f"Service {created['name']} created: {created['id']} ({_status(created)}).\n"
               f"  URL: {created['url']}:predict")
    if created["token"]:
        click.echo(f"  Token: {created['token']}\n  Store it now, it is not shown again (e.g. "
                   "in DLLAB_SERVICE_TOKEN, which curl below and `dllab service predict` "
                   "read).")
    example = _example(api, created["id"])
    body_arg = shlex.quote(example) if len(example) <= 300 else "@request.json"
    auth = (' -H "Authorization: Bearer $DLLAB_SERVICE_TOKEN"'
            if created["token_required"] else "")
    click.echo(f"Try it (once it serves):\n  curl -X POST {created['url']}:predict{auth} "
               f"-d {body_arg}")
    if wait:
        _follow(api, created["id"])


@service.command("show")
@click.argument("service_ref", metavar="SERVICE")
def service_show(service_ref: str) -> None:
    """Show SERVICE: status and why, its tracks (version, share of requests) and replicas."""
    api = Api.from_config()
    _print(api.call("GET", f"/services/{_find(api, service_ref)}"))


@service.command("update")
@click.argument("service_ref", metavar="SERVICE")
@_version_options("Roll the replicas over to")
@click.option("--replicas", type=click.IntRange(0, 64), default=None,
              help="Replicas to keep (with autoscaling: where it starts).")
@_autoscale_options
@click.option("--autoscale-off", is_flag=True, help="Stop autoscaling.")
@click.option("--wait", is_flag=True, help="Show progress until it serves (or fails).")
def service_update(service_ref: str, version: int | None, label: str | None,
                   replicas: int | None, autoscale_min: int | None, autoscale_max: int | None,
                   autoscale_metric: str | None, autoscale_target: float | None,
                   autoscale_off: bool, wait: bool) -> None:
    """Change SERVICE: a new version rolls its replicas over one at a time (no request
    fails); --replicas and the autoscale options resize it."""
    body: dict[str, Any] = {"autoscale_off": autoscale_off}
    for key, value in (("version", version), ("label", label), ("replicas", replicas),
                       ("autoscale", _autoscale(autoscale_min, autoscale_max,
                                                autoscale_metric, autoscale_target))):
        if value is not None:
            body[key] = value
    if body == {"autoscale_off": False}:
        raise click.UsageError("nothing to change: give --version, --label, --replicas or "
                               "autoscale options")
    api = Api.from_config()
    updated = api.call("PATCH", f"/services/{_find(api, service_ref)}", json=body)
    click.echo(f"Service {updated['name']} updated: {_status(updated)}.")
    if wait:
        _follow(api, updated["id"])


@service.command("canary")
@click.argument("service_ref", metavar="SERVICE")
@_version_options("Canary")
@click.option("--weight", type=click.IntRange(1, 99), default=10, show_default=True,
              help="Percent of the requests it gets.")
@click.option("--replicas", type=click.IntRange(1, 64), default=1, show_default=True)
def service_canary(service_ref: str, version: int | None, label: str | None, weight: int,
                   replicas: int) -> None:
    """Send --weight percent of SERVICE's requests to replicas of another version (default:
    the newest); again to change it. Then `promote` or `rollback`."""
    body: dict[str, Any] = {"weight": weight, "replicas": replicas}
    for key, value in (("version", version), ("label", label)):
        if value is not None:
            body[key] = value
    api = Api.from_config()
    answer = api.call("POST", f"/services/{_find(api, service_ref)}/canary", json=body)
    click.echo(f"Service {answer['name']}: {_versions(answer)}; {_status(answer)}.")


@service.command("promote")
@click.argument("service_ref", metavar="SERVICE")
def service_promote(service_ref: str) -> None:
    """Make the canary's version SERVICE's stable one (rolled over replica by replica)."""
    api = Api.from_config()
    answer = api.call("POST", f"/services/{_find(api, service_ref)}/promote")
    click.echo(f"Service {answer['name']}: canary promoted, serving version "
               f"{answer['tracks'][0]['version']}; {_status(answer)}.")


@service.command("rollback")
@click.argument("service_ref", metavar="SERVICE")
def service_rollback(service_ref: str) -> None:
    """Drop SERVICE's canary: every request goes to the stable version again."""
    api = Api.from_config()
    answer = api.call("POST", f"/services/{_find(api, service_ref)}/rollback")
    click.echo(f"Service {answer['name']}: canary dropped, serving version "
               f"{answer['tracks'][0]['version']}; {_status(answer)}.")


@service.command("delete")
@click.argument("service_ref", metavar="SERVICE")
@click.confirmation_option(prompt="Delete the service and stop its replicas?")
def service_delete(service_ref: str) -> None:
    """Delete SERVICE: unroute it at once and stop its replicas."""
    api = Api.from_config()
    api.call("DELETE", f"/services/{_find(api, service_ref)}")
    click.echo(f"Service {service_ref} deleted.")


@service.command("token")
@click.argument("service_ref", metavar="SERVICE")
@click.option("--remove", is_flag=True, help="Open the service to anyone who reaches it.")
def service_token(service_ref: str, remove: bool) -> None:
    """Make SERVICE require a new access token and print it (shown only once; an older one
    stops working within a second), or --remove the need for one."""
    api = Api.from_config()
    service_id = _find(api, service_ref)
    if remove:
        api.call("DELETE", f"/services/{service_id}/token")
        click.echo(f"Service {service_ref} no longer needs a token.")
        return
    answer = api.call("POST", f"/services/{service_id}/token")
    click.echo(f"Token of {service_ref}: {answer['token']}\nStore it now: it is not shown "
               "again. Send it as 'Authorization: Bearer TOKEN'.")


@service.command("predict")
@click.argument("service_ref", metavar="SERVICE")
@click.option("-d", "--data", default=None, help='The request, e.g. \'{"instances": [[1.0]]}\'.')
@click.option("-f", "--file", "file", type=click.File(), default=None,
              help="A file holding the request ('-': standard input).")
@click.option("--example", is_flag=True,
              help="Send the example request of the model's signature (zeros).")
@_version_options("Ask")
@click.option("--token-value", envvar="DLLAB_SERVICE_TOKEN", default=None,
              help="The service's access token (default: $DLLAB_SERVICE_TOKEN).")
def service_predict(service_ref: str, data: str | None, file: TextIO | None, example: bool,
                    version: int | None, label: str | None, token_value: str | None) -> None:
    """POST a predict request (TF Serving's REST format) to SERVICE's public URL and print
    the answer."""
    if (data is not None) + (file is not None) + example != 1:
        raise click.UsageError("give one of -d JSON, -f FILE or --example")
    if version is not None and label is not None:
        raise click.UsageError("give --version or --label, not both")
    api = Api.from_config()
    current = api.call("GET", f"/services/{_find(api, service_ref)}")
    text = _example(api, current["id"]) if example else data if data is not None else \
        file.read() if file else ""
    try:
        request = json.loads(text)
    except ValueError as exc:
        raise click.ClickException(f"the request is not valid JSON: {exc}") from exc
    url = current["url"] + (f"/versions/{version}" if version is not None else
                            f"/labels/{label}" if label is not None else "") + ":predict"
    headers = {"Authorization": f"Bearer {token_value}"} if token_value else {}
    try:
        response = httpx.post(url, json=request, headers=headers, timeout=60)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach {url}: {exc}") from exc
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if response.status_code >= 400:
        detail = (answer.get("error") or answer.get("detail")) if isinstance(answer, dict) \
            else None
        raise click.ClickException(f"{detail or response.text} (HTTP {response.status_code})")
    click.echo(json.dumps(answer, indent=2) if answer is not None else response.text)


@service.command("metrics")
@click.argument("service_ref", metavar="SERVICE")
@click.option("--seconds", type=click.IntRange(2, 3600), default=60, show_default=True,
              help="Over the last this many seconds.")
def service_metrics(service_ref: str, seconds: int) -> None:
    """Show SERVICE's traffic over the last minute: requests and errors per second,
    latency percentiles, routed replicas."""
    api = Api.from_config()
    points = api.call("GET", f"/services/{_find(api, service_ref)}/metrics",
                      params={"seconds": seconds})["points"]
    if not points:
        click.echo(f"No traffic measured in the last {seconds} s (replicas are measured "
                   "while they serve).")
        return
    rps = sum(p["rps"] for p in points) / len(points)
    errors = sum(p["errors"] for p in points) / len(points)
    inflight = sum(p["inflight"] for p in points) / len(points)
    lines = [f"Last {seconds} s ({len(points)} points): {rps:.2f} requests/s, "
             f"{errors:.2f} errors/s, {inflight:.1f} in flight, "
             f"{points[-1]['replicas']} replica(s) routed now"]
    latencies = []
    for key in ("p50_ms", "p95_ms", "p99_ms"):
        timed = [(p[key], p["rps"]) for p in points if p[key] is not None]
        weight = sum(r for _, r in timed)
        if timed:
            mean = sum(v * r for v, r in timed) / weight if weight else \
                sum(v for v, _ in timed) / len(timed)
            latencies.append(f"{key[:3]} {mean:.1f} ms")
    if latencies:
        lines.append("  latency " + ", ".join(latencies) + " (request-weighted mean of "
                     "the points)")
    click.echo("\n".join(lines))


def _find(api: Api, ref: str) -> str:
    return find(api, "/services", ref, "service", mine=False)


def _autoscale(low: int | None, high: int | None, metric: str | None,
               target: float | None) -> dict[str, Any] | None:
    given = {k: v for k, v in (("min", low), ("max", high), ("metric", metric),
                               ("target", target)) if v is not None}
    if given and target is None:
        raise click.UsageError("--autoscale-target is needed to autoscale")
    return given or None


def _example(api: Api, service_id: str) -> str:
    """The row-format example request of the default signature (else the first)."""
    examples = api.call("GET", f"/services/{service_id}/examples")
    if not examples:
        raise click.ClickException("the model has no signature to build an example from")
    chosen = examples.get(DEFAULT_SIGNATURE) or next(iter(examples.values()))
    return json.dumps(chosen["instances"], separators=(",", ":"))


def _follow(api: Api, service_id: str, timeout: float = 3600) -> None:
    """Print each change of status until it serves, fails or is stopped."""
    current = follow(api, f"/services/{service_id}", _status,
                     lambda s: s["status"] in STEADY, timeout)
    if current is None:
        raise click.ClickException("still not serving; `dllab service show` tells where it "
                                   "is")
    _print(current)
    if current["status"] == "failing":
        raise click.ClickException("the service is failing")


def _status(s: dict[str, Any]) -> str:
    return s["status"] + (f": {s['reason']}" if s.get("reason") else "")


def _versions(s: dict[str, Any]) -> str:
    if len(s["tracks"]) == 1:
        return f"version {s['tracks'][0]['version']}"
    return ", ".join(f"{t['name']} version {t['version']} ({t['weight']}%)" for t in s["tracks"])


def _ready(s: dict[str, Any]) -> str:
    ready = sum(r["state"] == "ready" for r in s["replicas"])
    return f"{ready}/{sum(t['replicas'] for t in s['tracks'])}"


def _print(s: dict[str, Any]) -> None:
    spec = s["spec"]
    lines = [f"{s['name']} {s['id']} ({s['owner']}): {_status(s)}",
             f"  model {s['model']}, image {spec.get('image')}, "
             f"{spec.get('gpus_per_replica', 0)} GPU(s) per replica, "
             + ("token required" if s["token_required"] else "no token"),
             f"  URL: {s['url']}:predict"]
    rule = spec.get("autoscale")
    if rule:
        lines.append(f"  autoscale: {rule['min']}-{rule['max']} replicas, {rule['metric']} "
                     f"target {rule['target']:g}")
    lines += [f"  {t['name']}: version {t['version']}, {t['weight']}% of requests, "
              f"{t['replicas']} replica(s) wanted" for t in s["tracks"]]
    rows = [{**r, "unit": r["unit"] or "-", "host": r["host"] or "-",
             "address": r["address"] or "-", "error": r["error"] or "",
             "gpus": ",".join(str(g["index"]) for g in r["gpus"]) or "-"}
            for r in s["replicas"]]
    click.echo("\n".join(lines))
    click.echo(table(rows, ["unit", "track", "version", "state", "host", "address", "gpus",
                            "error"]))
