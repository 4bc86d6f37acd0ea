"""Bad input never answers 500: each request below gets a 4xx with a JSON ``detail`` that
says what is wrong (422 invalid, 404 unknown, 401 not authenticated).

Requests are made with ``api``, a client that returns a server error as its 500 instead
of raising it. ``{unit}`` in a path or body is a fresh unit of the admin, on the host
``gpu-1``. The table runs as one test per database with a subtest per row (reported by
its id), so that the app, logins and host are set up twice rather than 150 times.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Bad:
    id: str
    method: str
    path: str
    status: int | tuple[int, ...]
    mentions: str = ""  # a word the detail must contain
    json: Any = None
    content: bytes | None = None
    data: dict[str, str] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    caller: str = "admin"  # admin, host or nobody


UNIT = {"name": "train", "command": ["python", "train.py"]}
REPORT = {"unit_id": "{unit}", "state": "running"}
BIG = 2**64
Headers = dict[str, str]


CASES = [
    # Bodies that are not JSON objects.
    Bad("malformed json", "POST", "/api/v1/units", 422, "JSON", content=b'{"name": "x",'),
    Bad("json array", "POST", "/api/v1/units", 422, "body", json=[UNIT]),
    Bad("no body", "POST", "/api/v1/units", 422, "body"),
    # Strict bodies: unknown fields and wrong types are refused, not coerced.
    Bad("unknown field", "POST", "/api/v1/units", 422, "colour", json={**UNIT, "colour": 1}),
    Bad("gpus as string", "POST", "/api/v1/units", 422, "gpus", json={**UNIT, "gpus": "2"}),
    Bad("gpus as float", "POST", "/api/v1/units", 422, "gpus", json={**UNIT, "gpus": 2.0}),
    Bad("gpus as bool", "POST", "/api/v1/units", 422, "gpus", json={**UNIT, "gpus": True}),
    Bad("negative gpus", "POST", "/api/v1/units", 422, "gpus", json={**UNIT, "gpus": -1}),
    Bad("too many gpus", "POST", "/api/v1/units", 422, "gpus", json={**UNIT, "gpus": 65}),
    Bad("command as string", "POST", "/api/v1/units", 422, "command",
        json={**UNIT, "command": "python train.py"}),
    Bad("empty command", "POST", "/api/v1/units", 422, "command", json={**UNIT, "command": []}),
    Bad("env value not a string", "POST", "/api/v1/units", 422, "env",
        json={**UNIT, "env": {"EPOCHS": 3}}),
    Bad("env bad name", "POST", "/api/v1/units", 422, "env",
        json={**UNIT, "env": {"1EPOCHS": "3"}}),
    Bad("memory too small", "POST", "/api/v1/units", 422, "memory_mib",
        json={**UNIT, "memory_mib": 8}),
    Bad("zero cpus", "POST", "/api/v1/units", 422, "cpus", json={**UNIT, "cpus": 0}),
    Bad("port zero", "POST", "/api/v1/units", 422, "ports", json={**UNIT, "ports": [0]}),
    Bad("port above 65535", "POST", "/api/v1/units", 422, "ports",
        json={**UNIT, "ports": [70000]}),
    Bad("negative port", "POST", "/api/v1/units", 422, "ports", json={**UNIT, "ports": [-5]}),
    # Where a unit runs is the scheduler's choice alone; its place in the queue is bounded.
    Bad("unit names its host", "POST", "/api/v1/units", 422, "host",
        json={**UNIT, "host": "gpu-1"}),
    Bad("priority above 100", "POST", "/api/v1/units", 422, "priority",
        json={**UNIT, "priority": 101}),
    Bad("priority below -100", "POST", "/api/v1/units", 422, "priority",
        json={**UNIT, "priority": -101}),
    Bad("priority as string", "POST", "/api/v1/units", 422, "priority",
        json={**UNIT, "priority": "1"}),
    Bad("unknown on_lost", "POST", "/api/v1/units", 422, "on_lost",
        json={**UNIT, "on_lost": "retry"}),
    Bad("negative max_restarts", "POST", "/api/v1/units", 422, "max_restarts",
        json={**UNIT, "max_restarts": -1}),
    Bad("max_restarts above 100", "POST", "/api/v1/units", 422, "max_restarts",
        json={**UNIT, "max_restarts": 101}),
    # Names: DNS-label shaped, at most 63 characters.
    Bad("unit name 64 chars", "POST", "/api/v1/units", 422, "name",
        json={**UNIT, "name": "a" * 64}),
    Bad("unit name upper case", "POST", "/api/v1/units", 422, "name",
        json={**UNIT, "name": "Train"}),
    Bad("unit name underscore", "POST", "/api/v1/units", 422, "name",
        json={**UNIT, "name": "my_train"}),
    Bad("unit name leading dash", "POST", "/api/v1/units", 422, "name",
        json={**UNIT, "name": "-train"}),
    Bad("unit name empty", "POST", "/api/v1/units", 422, "name", json={**UNIT, "name": ""}),
    Bad("host name 64 chars", "POST", "/api/v1/hosts", 422, "name", json={"name": "h" * 64}),
    Bad("host name dot", "POST", "/api/v1/hosts", 422, "name", json={"name": "gpu.1"}),
    Bad("host unknown field", "POST", "/api/v1/hosts", 422, "token",
        json={"name": "gpu-2", "token": "dlh_mine"}),
    Bad("username 65 chars", "POST", "/api/v1/users", 422, "username",
        json={"username": "a" * 65, "password": "long-enough"}),
    Bad("username upper case", "POST", "/api/v1/users", 422, "username",
        json={"username": "Alice", "password": "long-enough"}),
    Bad("username leading digit", "POST", "/api/v1/users", 422, "username",
        json={"username": "1alice", "password": "long-enough"}),
    Bad("password too short", "POST", "/api/v1/users", 422, "password",
        json={"username": "alice", "password": "short"}),
    Bad("user unknown field", "POST", "/api/v1/users", 422, "is_admin",
        json={"username": "alice", "password": "long-enough", "is_admin": True}),
    Bad("quota as string", "PATCH", "/api/v1/users/1", 422, "gpu_quota",
        json={"gpu_quota": "2"}),
    Bad("quota as float", "PATCH", "/api/v1/users/1", 422, "gpu_quota",
        json={"gpu_quota": 2.0}),
    Bad("user update unknown field", "PATCH", "/api/v1/users/1", 422, "role",
        json={"role": "admin"}),
    Bad("token name empty", "POST", "/api/v1/tokens", 422, "name", json={"name": ""}),
    Bad("token name blank", "POST", "/api/v1/tokens", 422, "name", json={"name": "   "}),
    Bad("token name 65 chars", "POST", "/api/v1/tokens", 422, "name", json={"name": "t" * 65}),
    Bad("token name with NUL", "POST", "/api/v1/tokens", 422, "name", json={"name": "ci\x00"}),
    Bad("token zero days", "POST", "/api/v1/tokens", 422, "expires_in_days",
        json={"name": "ci", "expires_in_days": 0}),
    Bad("token days as string", "POST", "/api/v1/tokens", 422, "expires_in_days",
        json={"name": "ci", "expires_in_days": "7"}),
    Bad("token over ten years", "POST", "/api/v1/tokens", 422, "expires_in_days",
        json={"name": "ci", "expires_in_days": 3651}),
    Bad("console login no password", "POST", "/api/v1/auth/login", 422, "password",
        json={"username": "admin"}, caller="nobody"),
    Bad("console login long name", "POST", "/api/v1/auth/login", 422, "username",
        json={"username": "a" * 65, "password": "x"}, caller="nobody"),
    Bad("console login NUL name", "POST", "/api/v1/auth/login", (401, 422),
        json={"username": "admin\x00", "password": "x"}, caller="nobody"),
    Bad("form login NUL name", "POST", "/api/v1/auth/token", (401, 422),
        data={"username": "admin\x00", "password": "x"}, caller="nobody"),
    Bad("form login no password", "POST", "/api/v1/auth/token", 422, "password",
        data={"username": "admin"}, caller="nobody"),
    # Query parameters out of range.
    Bad("negative offset", "GET", "/api/v1/units", 422, "offset", params={"offset": -1}),
    Bad("offset too large", "GET", "/api/v1/hosts", 422, "offset", params={"offset": 10**6 + 1}),
    Bad("zero limit", "GET", "/api/v1/tokens", 422, "limit", params={"limit": 0}),
    Bad("limit too large", "GET", "/api/v1/users", 422, "limit", params={"limit": 501}),
    Bad("limit not a number", "GET", "/api/v1/units", 422, "limit", params={"limit": "ten"}),
    Bad("unknown state", "GET", "/api/v1/units", 422, "state", params={"state": "sleeping"}),
    Bad("zero tail", "GET", "/api/v1/units/{unit}/logs", 422, "tail", params={"tail": 0}),
    Bad("follow not a bool", "GET", "/api/v1/units/{unit}/logs", 422, "follow",
        params={"follow": "perhaps"}),
    # Unknown objects.
    Bad("unknown unit", "GET", "/api/v1/units/" + "0" * 32, 404, "no unit"),
    Bad("stop unknown unit", "POST", f"/api/v1/units/{'0' * 32}/stop", 404, "no unit"),
    Bad("logs of unknown unit", "GET", f"/api/v1/units/{'0' * 32}/logs", 404, "no unit"),
    # Ids no unit can have: unknown (404), or refused by shape (422).
    Bad("unit id not hex", "POST", "/api/v1/units/nope/stop", (404, 422)),
    Bad("unit id with NUL", "GET", "/api/v1/units/%00", (404, 422)),
    Bad("unit id with NUL in logs", "GET", "/api/v1/units/%00/logs", (404, 422)),
    Bad("unit id very long", "GET", "/api/v1/units/" + "u" * 2000, (404, 422)),
    Bad("unknown token", "DELETE", "/api/v1/tokens/999", 404, "no token"),
    Bad("token id not a number", "DELETE", "/api/v1/tokens/abc", 422, "token_id"),
    Bad("token id past 32 bits", "DELETE", f"/api/v1/tokens/{2**31}", (404, 422)),
    Bad("token id past 64 bits", "DELETE", f"/api/v1/tokens/{BIG}", (404, 422)),
    Bad("unknown host", "DELETE", "/api/v1/hosts/999", 404, "no host"),
    Bad("host id not a number", "DELETE", "/api/v1/hosts/gpu-1", 422, "host_id"),
    Bad("host id past 32 bits", "DELETE", f"/api/v1/hosts/{2**31}", (404, 422)),
    Bad("host id past 64 bits", "DELETE", f"/api/v1/hosts/{BIG}", (404, 422)),
    Bad("unknown user", "PATCH", "/api/v1/users/999", 404, "no user", json={"gpu_quota": 1}),
    Bad("user id past 32 bits", "PATCH", f"/api/v1/users/{2**31}", (404, 422),
        json={"gpu_quota": 1}),
    # No credentials.
    Bad("units without login", "GET", "/api/v1/units", 401, "not logged in", caller="nobody"),
    # What an agent sends is checked as strictly as what users send.
    Bad("register unknown runtime", "POST", "/api/v1/agent/register", 422, "runtime",
        json={"runtime": "vm", "address": "a", "version": "v", "gpus": [], "units": []},
        caller="host"),
    Bad("heartbeat gpu without uuid", "POST", "/api/v1/agent/heartbeat", 422, "uuid",
        json={"gpus": [{"index": 0, "model": "m", "memory_total_mib": 1,
                        "memory_used_mib": 0}], "units": []}, caller="host"),
    Bad("report unknown state", "POST", "/api/v1/agent/units/{unit}/report", 422, "state",
        json={**REPORT, "state": "sleeping"}, caller="host"),
    Bad("report exit code past 64 bits", "POST", "/api/v1/agent/units/{unit}/report", 422,
        "exit_code", json={**REPORT, "state": "exited", "exit_code": BIG}, caller="host"),
    Bad("report exit code past 32 bits", "POST", "/api/v1/agent/units/{unit}/report", 422,
        "exit_code", json={**REPORT, "state": "exited", "exit_code": 2**40}, caller="host"),
    Bad("report start time out of range", "POST", "/api/v1/agent/units/{unit}/report", 422,
        "started_at", json={**REPORT, "started_at": 1e300}, caller="host"),
    Bad("report end time out of range", "POST", "/api/v1/agent/units/{unit}/report", 422,
        "finished_at", json={**REPORT, "state": "exited", "exit_code": 0,
                             "finished_at": -1e20}, caller="host"),
    Bad("report runtime id too long", "POST", "/api/v1/agent/units/{unit}/report", 422,
        "runtime_id", json={**REPORT, "runtime_id": "c" * 200}, caller="host"),
    Bad("logs negative offset", "POST", "/api/v1/agent/units/{unit}/logs", 422, "offset",
        json={"offset": -1, "lines": []}, caller="host"),
    Bad("logs lines not a list", "POST", "/api/v1/agent/units/{unit}/logs", 422, "lines",
        json={"offset": 0, "lines": "one line"}, caller="host"),
]


def fill(value: Any, unit_id: str) -> Any:
    if isinstance(value, str):
        return value.replace("{unit}", unit_id)
    if isinstance(value, dict):
        return {k: fill(v, unit_id) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, unit_id) for v in value]
    return value


def check(api, callers: dict[str, Headers], unit_id: str, case: Bad) -> None:
    kwargs: dict[str, Any] = {"headers": dict(callers[case.caller]), "params": case.params}
    if case.json is not None:
        kwargs["json"] = fill(case.json, unit_id)
    if case.content is not None:
        kwargs["content"] = case.content
        kwargs["headers"]["Content-Type"] = "application/json"
    if case.data is not None:
        kwargs["data"] = case.data
    answer = api.request(case.method, fill(case.path, unit_id), **kwargs)
    expected = case.status if isinstance(case.status, tuple) else (case.status,)
    assert answer.status_code in expected, answer.text
    assert answer.headers["content-type"] == "application/json"
    detail = answer.json()["detail"]
    assert isinstance(detail, str) and detail
    assert case.mentions in detail


def test_bad_requests_are_4xx_that_say_why(api, admin, agent, run_unit, subtests):
    callers = {"admin": admin, "host": agent("gpu-1", gpus=1).headers, "nobody": {}}
    for number, case in enumerate(CASES):
        unit_id = run_unit(admin, name=f"unit-{number}")["id"]  # a fresh one for each case
        with subtests.test(case.id):
            check(api, callers, unit_id, case)


def test_longest_valid_names_are_accepted(client, admin, agent):
    agent("gpu-1", gpus=1)
    name = "a" + "-" * 61 + "z"
    assert client.post("/api/v1/hosts", headers=admin, json={"name": name}).status_code == 201
    unit = client.post("/api/v1/units", headers=admin, json={"name": name, "command": ["x"]})
    assert unit.status_code == 201, unit.text
    assert (unit.json()["name"], unit.json()["host"]) == (name, "gpu-1")  # the one online
    user = client.post("/api/v1/users", headers=admin,
                       json={"username": "u" * 64, "password": "p" * 256})
    assert user.status_code == 201, user.text


def test_rejected_unit_leaves_nothing_behind(client, admin, agent, broker):
    agent("gpu-1", gpus=1)
    client.post("/api/v1/units", headers=admin, json={**UNIT, "gpus": "1"})
    assert client.get("/api/v1/units", headers=admin).json()["count"] == 0
    assert broker.messages() == []
