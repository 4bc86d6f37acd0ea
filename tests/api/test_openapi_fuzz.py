"""Property-based fuzzing of every operation in the OpenAPI spec: nothing may answer 5xx.

Schemathesis generates valid and invalid requests from ``/openapi.json``; users' operations
are called as the admin and the agent's as a registered host, so both get past
authentication. Each operation is one subtest: a Hypothesis run of ``MAX_EXAMPLES``
derandomized examples without an example database or shrinking (a failure shows the
first request that failed, as a curl command). SQLite only: PostgreSQL-specific input
bugs have targeted tests in ``test_bad_input.py``.

Schemathesis' own ``@schema.parametrize()`` reads ``request.node._nodeid``, which pytest
9.2 no longer has, so this module drives its public ``as_strategy`` API itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi

Headers = dict[str, str]
MAX_EXAMPLES = 25


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only (overrides the conftest fixture that also runs on PostgreSQL)."""
    return f"sqlite:///{tmp_path / 'dllab.db'}"


@pytest.fixture
def api_schema(app: FastAPI) -> Iterator[schemathesis.BaseSchema]:
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    # Schemathesis keeps the app's lifespan running until exit; end it with the test.
    asgi.shutdown_lifespans()


class Credentials:
    """Headers for each case: a fresh token for logout (which revokes the token it is
    called with), a host token for the agent's operations (adding a host again when a
    fuzzed DELETE /hosts/{id} removed it), the admin's login token for the rest."""

    def __init__(self, client: TestClient, admin: Headers,
                 agent_host: Callable[..., Headers]):
        self.client, self.admin, self.agent_host = client, admin, agent_host
        self.hosts = 0
        self.host_headers: Headers = {}

    def _host_alive(self) -> bool:
        if not self.host_headers:
            return False
        answer = self.client.post("/api/v1/agent/heartbeat", headers=self.host_headers,
                                  json={"gpus": [], "units": []})
        return answer.status_code == 204

    def for_case(self, case: schemathesis.Case) -> Headers:
        path = case.operation.path
        if path == "/api/v1/auth/logout":
            created = self.client.post("/api/v1/tokens", headers=self.admin,
                                       json={"name": "fuzz-logout"})
            assert created.status_code == 201, created.text
            return {"Authorization": f"Bearer {created.json()['token']}"}
        if path.startswith("/api/v1/agent/"):
            if not self._host_alive():
                self.hosts += 1
                self.host_headers = self.agent_host(f"fuzz-{self.hosts}", gpus=4)
            return self.host_headers
        return self.admin


def fuzz(operation: schemathesis.APIOperation, credentials: Credentials) -> None:
    strategy = (operation.as_strategy(GenerationMode.POSITIVE)
                | operation.as_strategy(GenerationMode.NEGATIVE))

    @given(case=strategy)
    @settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate],
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=credentials.for_case(case), checks=[not_a_server_error])

    run()


def test_no_operation_answers_a_server_error(
        api_schema: schemathesis.BaseSchema, client: TestClient, admin: Headers,
        agent_host: Callable[..., Headers], subtests: pytest.Subtests) -> None:
    credentials = Credentials(client, admin, agent_host)
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 20, "the spec lost operations"
    for operation in operations:
        with subtests.test(operation.label):
            fuzz(operation, credentials)
