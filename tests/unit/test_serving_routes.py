"""``dllab.serving.routes.dynamic_config``: a prediction service's Traefik routers,
middlewares and services from its routed replicas, tracks' weights and model labels. The
path regexes are checked with Python's ``re``: Traefik compiles them with Go's regexp,
whose syntax is the same for these (classes, groups, ``?``, anchors)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from dllab.edge import PUBLIC_ENTRYPOINT
from dllab.serving.routes import HEALTH_PATH, Backend, Route, dynamic_config, prefix

S1 = Backend("http://10.0.0.2:30001", "stable", 3)
S2 = Backend("http://10.0.0.1:30002", "stable", 3)
C1 = Backend("http://10.0.0.3:30003", "canary", 31)


def config(weights: dict[str, int] | None = None, labels: dict[str, int] | None = None,
           token: str | None = None, backends: list[Backend] | None = None) -> dict[str, Any]:
    route = Route(service="s", weights=weights or {"stable": 90, "canary": 10},
                  labels=labels if labels is not None else {}, token=token)
    made = dynamic_config(route, [S1, S2, C1] if backends is None else backends)
    assert made is not None
    http: dict[str, Any] = made["http"]
    # Whatever is made, every router's service and middleware is defined.
    for router in http["routers"].values():
        assert router["service"] in http["services"]
        assert all(m in http["middlewares"] for m in router["middlewares"])
        assert router["entryPoints"] == [PUBLIC_ENTRYPOINT]
    for service in http["services"].values():
        for member in service.get("weighted", {}).get("services", []):
            assert member["name"] in http["services"]
    return http


def regex(rule: str) -> re.Pattern[str]:
    """The regular expression of a ``PathRegexp(`...`)`` rule."""
    found = re.match(r"PathRegexp\(`([^`]*)`\)", rule)
    assert found, rule
    return re.compile(found.group(1))


def traefik_replacement(replacement: str) -> str:
    """Go's ``${1}`` in a replacement is Python's ``\\g<1>``."""
    return re.sub(r"\$\{(\d+)\}", r"\\g<\1>", replacement)


def test_no_backend_no_routes():
    route = Route(service="s", weights={"stable": 100}, labels={"x": 1}, token="t")
    assert dynamic_config(route, []) is None
    assert prefix("s") == "/serving/s"


def test_the_tracks_share_the_unversioned_requests_by_weight():
    http = config()
    assert http["services"]["svc-s"] == {"weighted": {
        "services": [{"name": "svc-s_stable", "weight": 90}, {"name": "svc-s_canary",
                                                              "weight": 10}],
        "healthCheck": {}}}
    stable = http["services"]["svc-s_stable"]["loadBalancer"]
    assert stable["servers"] == [{"url": "http://10.0.0.1:30002"},
                                 {"url": "http://10.0.0.2:30001"}]  # sorted: stable output
    assert stable["healthCheck"]["path"] == HEALTH_PATH == "/v1/health"
    assert http["services"]["svc-s_canary"]["loadBalancer"]["servers"] == [
        {"url": "http://10.0.0.3:30003"}]
    default = http["routers"]["svc-s"]
    assert default["rule"] == "PathPrefix(`/serving/s/`)"
    assert default["service"] == "svc-s"
    assert default["middlewares"] == ["svc-s_strip", "svc-s_retry"]
    assert http["middlewares"]["svc-s_strip"] == {"stripPrefix": {"prefixes": ["/serving/s"]}}
    assert http["middlewares"]["svc-s_retry"]["retry"]["attempts"] >= 2


def test_a_version_router_per_served_version_matching_only_that_version():
    http = config()
    v3, v31 = http["routers"]["svc-s_v3"], http["routers"]["svc-s_v31"]
    assert v3["service"] == "svc-s_v3" and v31["service"] == "svc-s_v31"
    assert http["services"]["svc-s_v3"]["loadBalancer"]["servers"] == [
        {"url": "http://10.0.0.1:30002"}, {"url": "http://10.0.0.2:30001"}]
    assert http["services"]["svc-s_v31"]["loadBalancer"]["servers"] == [
        {"url": "http://10.0.0.3:30003"}]
    assert v3["rule"].startswith("PathRegexp(`") and "Header" not in v3["rule"]
    three, thirty_one = regex(v3["rule"]), regex(v31["rule"])
    base = "/serving/s/v1/models/m/versions"
    for path in (f"{base}/3:predict", f"{base}/3", f"{base}/3/metadata", f"{base}/3:classify"):
        assert three.search(path), path
        assert not thirty_one.search(path), path
    for path in (f"{base}/31:predict", f"{base}/3x:predict", f"{base}/30:predict",
                 "/serving/s/v1/models/m:predict", "/serving/s/v1/models/m/labels/3:predict",
                 "/serving/s2/v1/models/m/versions/3:predict",
                 "/other/serving/s/v1/models/m/versions/3:predict",
                 "/serving/s/v1/models/a/b/versions/3:predict"):
        assert not three.search(path), path
    assert thirty_one.search(f"{base}/31:predict")
    # Traefik ranks routers by the length of their rule: the version routers win over the
    # default PathPrefix one for the paths both match.
    assert len(v3["rule"]) > len(http["routers"]["svc-s"]["rule"])
    assert v3["middlewares"] == ["svc-s_strip", "svc-s_retry"]


def test_a_label_routes_to_its_version_rewritten_and_an_unserved_label_is_left_out():
    http = config(labels={"prod": 3, "next": 31, "old": 7})
    assert "svc-s_label_old" not in http["routers"]  # version 7: no replica serves it
    assert "svc-s_label_old" not in http["middlewares"]
    prod = http["routers"]["svc-s_label_prod"]
    assert prod["service"] == "svc-s_v3"
    assert http["routers"]["svc-s_label_next"]["service"] == "svc-s_v31"
    # Stripped first, rewritten next, retried last.
    assert prod["middlewares"] == ["svc-s_strip", "svc-s_label_prod", "svc-s_retry"]
    matches = regex(prod["rule"])
    assert matches.search("/serving/s/v1/models/m/labels/prod:predict")
    assert matches.search("/serving/s/v1/models/m/labels/prod")
    for path in ("/serving/s/v1/models/m/labels/production:predict",
                 "/serving/s/v1/models/m/labels/pro:predict",
                 "/serving/s/v1/models/m/labels/next:predict",
                 "/serving/s/v1/models/m/versions/3:predict"):
        assert not matches.search(path), path

    rewrite = http["middlewares"]["svc-s_label_prod"]["replacePathRegex"]
    pattern, replacement = re.compile(rewrite["regex"]), traefik_replacement(
        rewrite["replacement"])
    stripped = "/v1/models/m/labels/prod:predict"  # what stripPrefix hands on
    assert pattern.sub(replacement, stripped) == "/v1/models/m/versions/3:predict"
    assert pattern.sub(replacement, "/v1/models/m/labels/prod/metadata") == \
        "/v1/models/m/versions/3/metadata"
    assert pattern.sub(replacement, "/v1/models/m/labels/prod") == "/v1/models/m/versions/3"
    assert not pattern.search("/v1/models/m/labels/production:predict")
    nxt = http["middlewares"]["svc-s_label_next"]["replacePathRegex"]
    assert re.sub(nxt["regex"], traefik_replacement(nxt["replacement"]),
                  "/v1/models/m/labels/next:predict") == "/v1/models/m/versions/31:predict"


def test_with_a_token_every_router_also_needs_the_header():
    http = config(labels={"prod": 3}, token="s3cr3t-T0ken_x")
    guard = " && Header(`Authorization`, `Bearer s3cr3t-T0ken_x`)"
    assert set(http["routers"]) == {"svc-s", "svc-s_v3", "svc-s_v31", "svc-s_label_prod"}
    for name, router in http["routers"].items():
        assert router["rule"].endswith(guard), name
        assert router["rule"].count("Header(") == 1
    assert http["routers"]["svc-s"]["rule"] == f"PathPrefix(`/serving/s/`){guard}"
    # The path part of each rule is the same as without the token.
    plain = config(labels={"prod": 3})
    for name, router in plain["routers"].items():
        assert http["routers"][name]["rule"] == router["rule"] + guard


def test_a_track_without_replicas_takes_no_share():
    http = config(backends=[S1, S2])  # the canary's replica is not ready yet
    assert http["services"]["svc-s"]["weighted"]["services"] == [
        {"name": "svc-s_stable", "weight": 90}]
    assert "svc-s_canary" not in http["services"] and "svc-s_v31" not in http["routers"]


@pytest.mark.parametrize(("weights", "expected"), [
    # A zero-weight track gets no share while another track has replicas...
    ({"stable": 100, "canary": 0}, [{"name": "svc-s_stable", "weight": 100}]),
    # ...and takes everything when it is the only one with replicas.
    ({"stable": 0, "canary": 100}, [{"name": "svc-s_canary", "weight": 100}]),
])
def test_a_zero_weight_track(weights, expected):
    http = config(weights=weights)
    assert http["services"]["svc-s"]["weighted"]["services"] == expected
    # Its replicas still answer the requests for their version.
    assert {"svc-s_v3", "svc-s_v31"} <= set(http["routers"])


def test_only_a_zero_weight_track_with_replicas_takes_everything():
    http = config(weights={"stable": 100, "canary": 0}, backends=[C1])
    assert http["services"]["svc-s"]["weighted"]["services"] == [
        {"name": "svc-s_canary", "weight": 1}]
    assert http["services"]["svc-s_canary"]["loadBalancer"]["servers"] == [
        {"url": "http://10.0.0.3:30003"}]


def test_replicas_of_one_version_on_both_tracks_share_its_version_router():
    both = [Backend("http://h:1", "stable", 5), Backend("http://h:2", "canary", 5)]
    http = config(backends=both, labels={"a": 5})
    assert [r for r in http["routers"] if "_v" in r] == ["svc-s_v5"]
    assert http["services"]["svc-s_v5"]["loadBalancer"]["servers"] == [
        {"url": "http://h:1"}, {"url": "http://h:2"}]
    assert http["routers"]["svc-s_label_a"]["service"] == "svc-s_v5"


def test_services_do_not_catch_each_others_paths():
    one = config()
    other = dynamic_config(Route("s-2", {"stable": 100}, {}, None), [S1])
    assert other is not None
    assert other["http"]["routers"]["svc-s-2"]["rule"] == "PathPrefix(`/serving/s-2/`)"
    assert not set(one["routers"]) & set(other["http"]["routers"])
    assert not regex(one["routers"]["svc-s_v3"]["rule"]).search(
        "/serving/s-2/v1/models/m/versions/3:predict")


def test_two_services_never_define_the_same_traefik_names():
    def names(service: str, labels: dict[str, int]) -> set[tuple[str, str]]:
        made = dynamic_config(Route(service, {"stable": 90, "canary": 10}, labels, None),
                              [Backend("http://h:1", "stable", 3),
                               Backend("http://h:2", "canary", 4)])
        assert made is not None
        return {(kind, name) for kind, found in made["http"].items() for name in found}

    web = names("web", {"strip": 3})
    for other in ("web-stable", "web-canary", "web-v3", "web-label", "web-label-strip"):
        assert not web & names(other, {}), other
