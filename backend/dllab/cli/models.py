"""``dllab model``: the model registry from the command line.

A model is a name with numbered versions, each a TensorFlow SavedModel kept in the
artifact store, and labels (stable, canary...) pointing at versions. MODEL is a model's id
or the name of one of yours.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from dllab.cli.client import Api, find, pack_folder, table


@click.group("model")
def model() -> None:
    """The model registry: SavedModel versions, their signatures and labels."""


@model.command("list")
def model_list() -> None:
    """List your models (everyone's, for an admin)."""
    page = Api.from_config().call("GET", "/models", params={"limit": 500})
    rows = [{**m, "labels": _labels(m["labels"]), "latest": m["latest"] or "-",
             "created": m["created_at"][:19]} for m in page["data"]]
    click.echo(table(rows, ["id", "name", "owner", "versions", "latest", "labels", "created"]))


@model.command("create")
@click.argument("name")
@click.option("--description", default="", help="What it is, for whoever serves it.")
def model_create(name: str, description: str) -> None:
    """Create model NAME, without versions yet (then `dllab model register`)."""
    created = Api.from_config().call("POST", "/models",
                                     json={"name": name, "description": description})
    click.echo(f"Model {created['name']} created: {created['id']}")


@model.command("show")
@click.argument("model_ref", metavar="MODEL")
def model_show(model_ref: str) -> None:
    """Show MODEL: its labels and versions, with their signatures' inputs and outputs."""
    api = Api.from_config()
    model_id = _find(api, model_ref)
    m = api.call("GET", f"/models/{model_id}")
    versions = api.call("GET", f"/models/{model_id}/versions", params={"limit": 500})["data"]
    lines = [f"{m['name']} {m['id']} ({m['owner']}): {m['versions']} version(s), "
             f"labels: {_labels(m['labels']) or 'none'}"]
    if m["description"]:
        lines.append(f"  {m['description']}")
    for v in versions:
        labels = f" [{', '.join(v['labels'])}]" if v["labels"] else ""
        lines.append(f"  version {v['version']}{labels}: {_size(v['size_bytes'])}, "
                     f"from {_source(v['source'])}, {v['created_at'][:19]}")
        lines += [f"    {line}" for line in _signatures(v["signatures"])]
    click.echo("\n".join(lines))


@model.command("delete")
@click.argument("model_ref", metavar="MODEL")
@click.confirmation_option(prompt="Delete the model and every version of it?")
def model_delete(model_ref: str) -> None:
    """Delete MODEL with every version (refused while a service serves it)."""
    api = Api.from_config()
    api.call("DELETE", f"/models/{_find(api, model_ref)}")
    click.echo(f"Model {model_ref} deleted.")


@model.command("register")
@click.argument("model_ref", metavar="MODEL")
@click.option("--job", "job_ref", default=None, metavar="JOB",
              help="A job of yours (id or name) whose output holds the SavedModel.")
@click.option("--path", default=None,
              help="With --job: the SavedModel's folder inside the job's output folder "
                   "(default: the output folder itself). Alone: an absolute folder on the "
                   "hosts, under a root the admin allows.")
@click.option("--upload", default=None, type=click.Path(exists=True, path_type=Path),
              help="A local SavedModel folder (packed as a .tar.gz) or a .tar.gz of one.")
def model_register(model_ref: str, job_ref: str | None, path: str | None,
                   upload: Path | None) -> None:
    """Register the next version of MODEL from a SavedModel: a job's output (--job), a
    folder on the hosts (--path) or a local folder or archive (--upload). Its signatures
    are read now; anything that is no SavedModel is refused."""
    if (job_ref is not None) + (upload is not None) + (path is not None and not job_ref) != 1:
        raise click.UsageError("give one of --job JOB [--path SUB], --path /abs/folder or "
                               "--upload LOCAL")
    api = Api.from_config()
    model_id = _find(api, model_ref)
    if upload is not None:
        if upload.is_dir():
            archive: Any = pack_folder(upload)
            click.echo(f"Packed {upload}: {len(archive)} bytes.")
        else:
            archive = upload.read_bytes()
        added = api.call("POST", f"/models/{model_id}/versions/upload", content=archive,
                         headers={"Content-Type": "application/gzip"})
    elif job_ref is not None:
        job_id = find(api, "/jobs", job_ref, "job")
        added = api.call("POST", f"/models/{model_id}/versions",
                         json={"job": {"id": job_id, "path": path or ""}})
    else:
        added = api.call("POST", f"/models/{model_id}/versions", json={"path": path})
    click.echo(f"Registered version {added['version']} of {model_ref} "
               f"({_size(added['size_bytes'])}, from {_source(added['source'])}):")
    click.echo("\n".join(f"  {line}" for line in _signatures(added["signatures"])))


@model.command("label")
@click.argument("model_ref", metavar="MODEL")
@click.argument("label")
@click.argument("version", type=click.IntRange(1))
def model_label(model_ref: str, label: str, version: int) -> None:
    """Point LABEL (stable, canary...) of MODEL at VERSION; services route
    .../labels/LABEL:predict to it within a second."""
    api = Api.from_config()
    m = api.call("PUT", f"/models/{_find(api, model_ref)}/labels/{label}",
                 json={"version": version})
    click.echo(f"{m['name']}: {label} -> version {version} (labels: {_labels(m['labels'])}).")


@model.command("unlabel")
@click.argument("model_ref", metavar="MODEL")
@click.argument("label")
def model_unlabel(model_ref: str, label: str) -> None:
    """Remove LABEL from MODEL."""
    api = Api.from_config()
    m = api.call("DELETE", f"/models/{_find(api, model_ref)}/labels/{label}")
    click.echo(f"{m['name']}: label {label} removed (labels: "
               f"{_labels(m['labels']) or 'none'}).")


@model.command("delete-version")
@click.argument("model_ref", metavar="MODEL")
@click.argument("version", type=click.IntRange(1))
@click.confirmation_option(prompt="Delete this version?")
def model_delete_version(model_ref: str, version: int) -> None:
    """Delete VERSION of MODEL and the labels on it (refused while a service serves it)."""
    api = Api.from_config()
    api.call("DELETE", f"/models/{_find(api, model_ref)}/versions/{version}")
    click.echo(f"Version {version} of {model_ref} deleted.")


def _find(api: Api, ref: str) -> str:
    return find(api, "/models", ref, "model")


def _labels(labels: dict[str, int]) -> str:
    return ", ".join(f"{name}={version}" for name, version in sorted(labels.items()))


def _source(source: dict[str, Any]) -> str:
    if "job" in source:
        return f"job {source['job']}" + (f" ({source['path']})" if source.get("path") else "")
    if "upload" in source:
        return "an upload"
    return str(source.get("path", source))


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    value, units = size / 1024, ["KiB", "MiB", "GiB"]
    while value >= 1024 and len(units) > 1:
        value, units = value / 1024, units[1:]
    return f"{value:.1f} {units[0]}"


def _tensor(name: str, spec: dict[str, Any]) -> str:
    """``x: float32[-1,64]`` (``[?]``: any rank)."""
    shape = "?" if spec["shape"] is None else ",".join(str(d) for d in spec["shape"])
    return f"{name}: {spec['dtype']}[{shape}]"


def _signatures(signatures: dict[str, dict[str, Any]]) -> list[str]:
    return [f"{name}: ({', '.join(_tensor(k, t) for k, t in sorted(s['inputs'].items()))}) "
            f"-> ({', '.join(_tensor(k, t) for k, t in sorted(s['outputs'].items()))})"
            for name, s in sorted(signatures.items())] or ["(no signatures)"]
