"""A prediction service's routes on the edge proxy (Traefik's dynamic configuration), made
from what the control plane decided: which replicas serve, which version each serves, the
tracks' weights and the model's labels. Traefik balances the requests itself, checks each
replica's health and retries a request whose replica did not answer at all: no process of
DLLab's sits in the data path.

Requests under ``/serving/<service>/`` reach the replicas without that prefix, as they would
reach TensorFlow Serving:

- ``.../versions/<v>...`` go to the replicas serving version v;
- ``.../labels/<l>...`` to those serving the version the label points at, rewritten to
  ``versions/<v>`` (labels move without restarting a replica);
- anything else is shared between the tracks by weight (stable, and a canary).

A version or label no replica serves matches none of these and falls to the default route:
the replica answers TensorFlow Serving's "servable not found". With an access token, only
requests that carry it match; the others fall through to the control plane, which answers
401 (as it answers 503 while no replica is routed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dllab.edge import PUBLIC_ENTRYPOINT

HEALTH_PATH = "/v1/health"  # dllab-serve's: 503 while loading or draining


@dataclass(frozen=True)
class Backend:
    """A replica the control plane has seen answer its health check, and not draining."""

    url: str  # http://host:port
    track: str
    version: int


@dataclass(frozen=True)
class Route:
    service: str
    weights: dict[str, int]  # track -> percent
    labels: dict[str, int]  # label -> version
    token: str | None


def prefix(service: str) -> str:
    return f"/serving/{service}"


def dynamic_config(route: Route, backends: list[Backend]) -> dict[str, Any] | None:
    """Traefik's routers, middlewares and services for one prediction service; None while no
    replica is ready (the control plane answers then)."""
    if not backends:
        return None
    # "_" is in no service name: the parts' names cannot be another service's (Traefik
    # keeps the first of two definitions of one name, whichever file it came from).
    name = f"svc-{route.service}"
    base = prefix(route.service)
    guard = f" && Header(`Authorization`, `Bearer {route.token}`)" if route.token else ""
    common = [f"{name}_strip", f"{name}_retry"]
    routers: dict[str, Any] = {}
    services: dict[str, Any] = {}
    middlewares: dict[str, Any] = {
        f"{name}_strip": {"stripPrefix": {"prefixes": [base]}},
        # Another replica is tried when one does not answer at all (killed, gone), never
        # after it has answered: a prediction is not sent twice once computed.
        f"{name}_retry": {"retry": {"attempts": 3, "initialInterval": "20ms"}},
    }

    tracks = {t: [b for b in backends if b.track == t] for t in route.weights}
    weighted = [{"name": f"{name}_{t}", "weight": route.weights[t]}
                for t, members in tracks.items() if members and route.weights[t] > 0]
    if not weighted:  # only a zero-weight track has replicas: it takes everything
        weighted = [{"name": f"{name}_{t}", "weight": 1} for t, m in tracks.items() if m]
    for track, members in tracks.items():
        if members:
            services[f"{name}_{track}"] = _balancer(members)
    services[name] = {"weighted": {"services": weighted, "healthCheck": {}}}
    routers[name] = _router(f"PathPrefix(`{base}/`){guard}", name, common)

    versions = sorted({b.version for b in backends})
    for version in versions:
        services[f"{name}_v{version}"] = _balancer([b for b in backends if b.version == version])
        routers[f"{name}_v{version}"] = _router(
            f"PathRegexp(`^{base}/v1/models/[^/:]+/versions/{version}([/:].*)?$`){guard}",
            f"{name}_v{version}", common)
    for label, version in sorted(route.labels.items()):
        if version not in versions:
            continue
        rewrite = f"{name}_label_{label}"
        middlewares[rewrite] = {"replacePathRegex": {
            "regex": f"^/v1/models/([^/:]+)/labels/{label}([/:].*)?$",
            "replacement": f"/v1/models/${{1}}/versions/{version}${{2}}"}}
        routers[rewrite] = _router(
            f"PathRegexp(`^{base}/v1/models/[^/:]+/labels/{label}([/:].*)?$`){guard}",
            f"{name}_v{version}", [*common[:1], rewrite, *common[1:]])
    return {"http": {"routers": routers, "middlewares": middlewares, "services": services}}


def _router(rule: str, service: str, middlewares: list[str]) -> dict[str, Any]:
    return {"rule": rule, "entryPoints": [PUBLIC_ENTRYPOINT], "service": service,
            "middlewares": middlewares}


def _balancer(members: list[Backend]) -> dict[str, Any]:
    return {"loadBalancer": {
        "servers": [{"url": b.url} for b in sorted(members, key=lambda b: b.url)],
        "healthCheck": {"path": HEALTH_PATH, "interval": "500ms", "timeout": "1s"}}}
