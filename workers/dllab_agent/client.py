"""The agent's side of ``/api/v1/agent/...``: HTTP calls to the control plane.

Every failure leaves this module as one of::

    ControlPlaneError            base; ``retryable`` says whether trying again can help
     ├── ControlPlaneUnreachable no answer: connection refused, timeout (retryable)
     └── ControlPlaneRefused     an HTTP error answer; ``status_code`` and ``detail``
          └── TokenRejected      401: the host token is wrong or revoked (never retryable)

Callers decide how to retry; the client never does.
"""

from __future__ import annotations

from typing import TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from dllab.protocol import (
    AgentHeartbeat,
    AgentRegister,
    AgentRegistered,
    MetricsReport,
    UnitLogAck,
    UnitLogLines,
    UnitReport,
)
from dllab_agent import __version__

API = "/api/v1/agent"

Answer = TypeVar("Answer", bound=BaseModel)


class ControlPlaneError(Exception):
    retryable = False


class ControlPlaneUnreachable(ControlPlaneError):
    retryable = True


class ControlPlaneRefused(ControlPlaneError):
    def __init__(self, message: str, status_code: int, detail: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.detail = detail
        # A restarting server or its proxy answers 5xx for a moment; 4xx will not change.
        self.retryable = status_code >= 500 or status_code == 429


class TokenRejected(ControlPlaneRefused):
    pass


def _detail(response: httpx.Response) -> str:
    """The server's ``detail`` in words: FastAPI sends a string or a list of field errors."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason_phrase
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        return "; ".join(
            ".".join(str(part) for part in item.get("loc", [])) + ": " + str(item.get("msg"))
            if isinstance(item, dict)
            else str(item)
            for item in detail
        )
    return str(body)[:300]


class ControlPlaneClient:
    def __init__(
        self,
        server_url: str,
        host_token: str,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.server_url = server_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.server_url,
            headers={
                "Authorization": f"Bearer {host_token}",
                "User-Agent": f"dllab-agent/{__version__}",
            },
            timeout=timeout,
            transport=transport,
        )

    def register(self, message: AgentRegister) -> AgentRegistered:
        return self._answer(self._post("/register", message), AgentRegistered)

    def heartbeat(self, message: AgentHeartbeat) -> None:
        self._post("/heartbeat", message)

    def send_metrics(self, message: MetricsReport) -> None:
        self._post("/metrics", message)

    def report(self, report: UnitReport) -> None:
        self._post(f"/units/{quote(report.unit_id, safe='')}/report", report)

    def ship_logs(self, unit_id: str, batch: UnitLogLines) -> UnitLogAck:
        return self._answer(self._post(f"/units/{quote(unit_id, safe='')}/logs", batch), UnitLogAck)

    def close(self) -> None:
        self._http.close()

    def _post(self, path: str, message: BaseModel) -> httpx.Response:
        url = API + path
        try:
            response = self._http.post(
                url, content=message.model_dump_json(), headers={"Content-Type": "application/json"}
            )
        except httpx.TransportError as exc:
            raise ControlPlaneUnreachable(
                f"control plane at {self.server_url} unreachable ({type(exc).__name__}: {exc})"
            ) from exc
        if response.status_code == 401:
            detail = _detail(response)
            raise TokenRejected(
                f"the control plane at {self.server_url} rejected this host's token ({detail}):"
                " it is wrong or was revoked; start the agent with a valid host token",
                401,
                detail,
            )
        if response.is_error:
            detail = _detail(response)
            raise ControlPlaneRefused(
                f"POST {url} answered {response.status_code}: {detail}",
                response.status_code,
                detail,
            )
        return response

    @staticmethod
    def _answer(response: httpx.Response, answer: type[Answer]) -> Answer:
        try:
            return answer.model_validate_json(response.content)
        except ValidationError as exc:
            raise ControlPlaneError(
                f"{response.request.method} {response.request.url.path} answered something"
                f" that is not a DLLab answer: {exc}"
            ) from exc
