"""The CLI's view of a control plane: where it is, the token, and calls that fail in words."""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import httpx


def config_path() -> Path:
    default = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "dllab"
    return Path(os.environ.get("DLLAB_CONFIG", default / "config.json"))


def save_login(server: str, token: str) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)  # it holds a bearer token
    path.write_text(json.dumps({"server": server, "token": token}, indent=2) + "\n")
    return path


class Api:
    def __init__(self, server: str, token: str | None):
        self.server = server.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    @classmethod
    def from_config(cls) -> Api:
        path = config_path()
        server = os.environ.get("DLLAB_SERVER")
        token = os.environ.get("DLLAB_TOKEN")
        if path.exists() and not (server and token):
            saved = json.loads(path.read_text())
            server, token = server or saved.get("server"), token or saved.get("token")
        if not server or not token:
            raise click.ClickException("not logged in: run 'dllab login --server URL' "
                                       "(or set DLLAB_SERVER and DLLAB_TOKEN)")
        return cls(server, token)

    def call(self, method: str, path: str, headers: dict[str, str] | None = None,
             **kwargs: Any) -> Any:
        try:
            # A connection per call: a CLI command makes one or two.
            response = httpx.request(method, f"{self.server}/api/v1{path}",
                                     headers={**self.headers, **(headers or {})}, timeout=30,
                                     **kwargs)
        except httpx.HTTPError as exc:
            raise click.ClickException(f"cannot reach {self.server}: {exc}") from exc
        _check(response)
        if response.headers.get("content-type", "").startswith("text/"):
            return response.text
        return response.json() if response.content else None

    def stream(self, path: str, **kwargs: Any) -> Iterator[str]:
        """The lines of a streamed text answer (``follow`` logs), as they come."""
        url = f"{self.server}/api/v1{path}"
        try:
            with httpx.stream("GET", url, headers=self.headers, timeout=httpx.Timeout(
                    30, read=None), **kwargs) as response:
                if response.status_code >= 400:
                    response.read()
                    _check(response)
                yield from response.iter_lines()
        except httpx.HTTPError as exc:
            raise click.ClickException(f"cannot reach {self.server}: {exc}") from exc


def _check(response: httpx.Response) -> None:
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise click.ClickException(f"{detail} (HTTP {response.status_code})")


SKIPPED = {"__pycache__", ".git", ".ipynb_checkpoints"}  # never worth uploading


def pack_folder(folder: Path) -> bytes:
    """``folder`` as a .tar.gz in memory (job code, a SavedModel), links left out."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder)
            if SKIPPED & set(relative.parts) or path.is_symlink():
                continue
            tar.add(path, arcname=str(relative), recursive=False)
    return buffer.getvalue()


def find(api: Api, collection: str, ref: str, what: str, mine: bool = True) -> str:
    """The id of ``ref``: an id (32 hex) as is, else that of the first item so named in
    ``collection`` (``/models``, ``/services``...): among your own when ``mine``."""
    if re.fullmatch(r"[0-9a-f]{32}", ref):
        return ref
    params: dict[str, Any] = {"limit": 500}
    if mine:
        params["owner"] = api.call("GET", "/users/me")["username"]
    named = [i for i in api.call("GET", collection, params=params)["data"] if i["name"] == ref]
    if not named:
        raise click.ClickException(f"no {what} {'of yours ' if mine else ''}named {ref!r} "
                                   "(give its id?)")
    return str(named[0]["id"])


def follow(api: Api, path: str, describe: Callable[[dict[str, Any]], str],
           done: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any] | None:
    """Poll ``path``, printing ``describe`` of it whenever that changes, until ``done``;
    answers the last state, or None after ``timeout`` seconds."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        current: dict[str, Any] = api.call("GET", path)
        if describe(current) != last:
            last = describe(current)
            click.echo(f"  {last}")
        if done(current):
            return current
        time.sleep(0.5)
    return None


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    if not rows:
        return "(none)"
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)
