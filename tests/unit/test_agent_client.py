"""The agent's HTTP client against a mock transport: payloads, auth, and its error tree."""

from __future__ import annotations

import json

import httpx
import pytest

from dllab.protocol import (
    AgentHeartbeat,
    AgentRegister,
    ObservedState,
    RuntimeKind,
    UnitLogLines,
    UnitReport,
)
from dllab_agent.client import (
    ControlPlaneClient,
    ControlPlaneError,
    ControlPlaneRefused,
    ControlPlaneUnreachable,
    TokenRejected,
)

REGISTERED = {
    "host_id": 7,
    "name": "gpu-01",
    "queue": "host.gpu-01",
    "broker_url": "redis://broker:6379/0",
    "heartbeat_seconds": 5.0,
}


def client_answering(handler) -> ControlPlaneClient:
    return ControlPlaneClient(
        "http://cp.test:8000/", "host-token-1", transport=httpx.MockTransport(handler)
    )


def register_message() -> AgentRegister:
    return AgentRegister(
        runtime=RuntimeKind.process, address="10.0.0.5", version="0.1.0", gpus=[], units=[]
    )


def test_register_sends_token_and_parses_the_answer():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=REGISTERED)

    registered = client_answering(handler).register(register_message())

    assert registered.queue == "host.gpu-01" and registered.host_id == 7
    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == "http://cp.test:8000/api/v1/agent/register"
    assert request.headers["Authorization"] == "Bearer host-token-1"
    assert json.loads(request.content)["address"] == "10.0.0.5"


def test_reports_heartbeats_and_logs_go_to_their_routes():
    paths = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.raw_path.decode())
        if request.url.path.endswith("/logs"):
            return httpx.Response(200, json={"next_offset": 12})
        return httpx.Response(204)

    client = client_answering(handler)
    client.heartbeat(AgentHeartbeat(gpus=[], units=[]))
    client.report(UnitReport(unit_id="env/1", state=ObservedState.running))
    ack = client.ship_logs("u-1", UnitLogLines(offset=10, lines=["a", "b"]))

    assert ack.next_offset == 12
    assert paths == [
        "/api/v1/agent/heartbeat",
        "/api/v1/agent/units/env%2F1/report",
        "/api/v1/agent/units/u-1/logs",
    ]


def test_401_means_the_token_is_wrong_or_revoked():
    client = client_answering(lambda r: httpx.Response(401, json={"detail": "token revoked"}))
    with pytest.raises(TokenRejected) as caught:
        client.heartbeat(AgentHeartbeat(gpus=[], units=[]))
    assert not caught.value.retryable
    assert "token revoked" in str(caught.value) and "http://cp.test:8000" in str(caught.value)


def test_validation_errors_are_spelled_out_and_not_retried():
    detail = [{"loc": ["body", "gpus", 0, "uuid"], "msg": "Field required", "type": "missing"}]
    client = client_answering(lambda r: httpx.Response(422, json={"detail": detail}))
    with pytest.raises(ControlPlaneRefused) as caught:
        client.register(register_message())
    assert caught.value.status_code == 422 and not caught.value.retryable
    assert "body.gpus.0.uuid: Field required" in str(caught.value)


@pytest.mark.parametrize(
    ("status", "body", "retryable"),
    [
        (503, "Service Unavailable", True),
        (502, "<html>bad gateway</html>", True),
        (404, '{"detail": "no such unit"}', False),
        (429, "slow down", True),
    ],
)
def test_http_errors_carry_the_status_and_say_whether_to_retry(status, body, retryable):
    client = client_answering(lambda r: httpx.Response(status, text=body))
    with pytest.raises(ControlPlaneRefused) as caught:
        client.report(UnitReport(unit_id="u", state=ObservedState.missing))
    assert caught.value.status_code == status
    assert caught.value.retryable is retryable
    assert str(status) in str(caught.value)


def test_no_answer_is_unreachable_and_retryable():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(ControlPlaneUnreachable) as caught:
        client_answering(handler).register(register_message())
    assert caught.value.retryable
    assert "connection refused" in str(caught.value)


def test_an_answer_that_is_not_dllab_is_an_error():
    client = client_answering(lambda r: httpx.Response(200, text="<html>login</html>"))
    with pytest.raises(ControlPlaneError, match="not a DLLab answer"):
        client.register(register_message())
