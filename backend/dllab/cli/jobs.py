"""``dllab job``: distributed training jobs from the command line.

A job file is the body of ``POST /api/v1/jobs`` in YAML (or JSON), with one convenience:
``code: {dir: PATH}`` (relative to the file) is packed as a .tar.gz, uploaded, and sent as
``code: {upload: ID}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import yaml

from dllab.cli.client import Api, find, follow, pack_folder, table

ENDED = {"succeeded", "failed", "cancelled"}


@click.group("job")
def job() -> None:
    """Distributed TensorFlow training jobs: submit, follow, list, cancel."""


@job.command("submit")
@click.option("-f", "--file", "path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The job, in YAML (see examples/digits-mwms.yaml).")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Show progress until every replica runs.")
def job_submit(path: Path, wait: bool) -> None:
    """Submit the job described in a file."""
    try:
        body = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise click.ClickException(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(body, dict):
        raise click.ClickException(f"{path} must hold a mapping (the job's fields)")
    api = Api.from_config()
    code = body.get("code")
    if isinstance(code, dict) and "dir" in code:
        folder = (path.parent / str(code["dir"])).resolve()
        if not folder.is_dir():
            raise click.ClickException(f"code dir {folder} is not a folder")
        upload = api.call("POST", "/jobs/code", content=pack_folder(folder),
                          headers={"Content-Type": "application/gzip"})
        click.echo(f"Uploaded {folder}: {upload['files']} files, {upload['bytes']} bytes.")
        body["code"] = {"upload": upload["id"]}
    submitted = api.call("POST", "/jobs", json=body)
    click.echo(f"Job {submitted['name']} submitted: {submitted['id']}")
    if wait:
        _follow(api, submitted["id"])


@job.command("list")
@click.option("--status", default=None, help="Only jobs in this status.")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
def job_list(status: str | None, limit: int) -> None:
    """List your jobs, newest first (everyone's, for an admin)."""
    params: dict[str, Any] = {"limit": limit}
    if status:
        params["status"] = status
    page = Api.from_config().call("GET", "/jobs", params=params)
    rows = [{**j, "replicas": len(j["replicas"]), "strategy": j["spec"]["strategy"],
             "created": j["created_at"][:19]} for j in page["data"]]
    click.echo(table(rows, ["id", "name", "owner", "strategy", "replicas", "status",
                            "restarts", "created"]))


@job.command("show")
@click.argument("job_ref", metavar="JOB")
def job_show(job_ref: str) -> None:
    """Show JOB (its id, or the name of your newest job so named): status, replicas."""
    api = Api.from_config()
    _print(api.call("GET", f"/jobs/{_find(api, job_ref)}"))


@job.command("logs")
@click.argument("job_ref", metavar="JOB")
@click.option("--replica", default=None, help="e.g. worker-1 (default: the chief).")
@click.option("--attempt", type=click.IntRange(1, 1000), default=None,
              help="An earlier attempt's replica (default: the current attempt).")
@click.option("--tail", type=click.IntRange(1, 100_000), default=None,
              help="Only the last N lines.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing while it runs.")
def job_logs(job_ref: str, replica: str | None, attempt: int | None, tail: int | None,
             follow: bool) -> None:
    """Print a replica's log (timestamped lines)."""
    api = Api.from_config()
    params: dict[str, Any] = {"follow": follow}
    for name, value in (("replica", replica), ("attempt", attempt), ("tail", tail)):
        if value is not None:
            params[name] = value
    path = f"/jobs/{_find(api, job_ref)}/logs"
    if follow:
        for line in api.stream(path, params=params):
            click.echo(line)
    else:
        click.echo(api.call("GET", path, params=params), nl=False)


@job.command("cancel")
@click.argument("job_ref", metavar="JOB")
def job_cancel(job_ref: str) -> None:
    """Cancel JOB: stop every replica and free its GPUs (record and logs stay)."""
    api = Api.from_config()
    cancelled = api.call("POST", f"/jobs/{_find(api, job_ref)}/cancel")
    click.echo(f"Job {cancelled['name']}: {_status(cancelled)}.")


def _find(api: Api, ref: str) -> str:
    return find(api, "/jobs", ref, "job")  # the newest of that name


def _follow(api: Api, job_id: str, timeout: float = 86_400) -> None:
    """Print each change of status until every replica runs, or the job has ended."""
    current = follow(api, f"/jobs/{job_id}", _status,
                     lambda j: j["status"] == "running" or j["status"] in ENDED, timeout)
    if current is None:
        raise click.ClickException("still not running; `dllab job show` tells where it is")
    _print(current)
    if current["status"] == "failed":
        raise click.ClickException("the job failed")


def _status(j: dict[str, Any]) -> str:
    where = f" (#{j['position']} in the queue)" if j.get("position") else ""
    return f"{j['status']}{where}" + (f": {j['reason']}" if j.get("reason") else "")


def _print(j: dict[str, Any]) -> None:
    lines = [f"{j['name']} {j['id']} ({j['owner']}): {_status(j)}",
             f"  {j['spec']['strategy']}, image {j['spec']['image']}, attempt {j['attempt']}, "
             f"{j['restarts']} of {j['max_restarts']} restarts used"]
    for r in j["replicas"]:
        gpus = ",".join(f"{g['index']}->{g['visible_index']}" for g in r["gpus"]) or "no GPU"
        lines.append(f"  {r['name']:<12} {r['state']:<9} {r['host'] or '-':<12} "
                     f"{r['address'] or '-':<28} GPUs {gpus}")
    timed = [f"{p['name']} +{p['seconds']:.1f}s" for p in j["phases"] if p["seconds"] is not None]
    if timed:
        lines.append("  start: " + ", ".join(timed))
    lines += [f"  restart {r['attempt']}: {r['reason']} (resumed from step "
              f"{r['resumed_from_step']})" for r in j["restart_history"]]
    lines.append(f"  artifacts: {j['artifacts']}")
    click.echo("\n".join(lines))
