"""The control plane's side of JupyterHub: it asks the hub, through the hub's REST API and
the token the two share, to start, stop and remove the named servers that environments are.

The hub then calls back (``api/hub.py``): its DLLab spawner asks for the unit, waits for it
and reports it ready; it never starts containers itself.
"""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import Any

import httpx

from dllab.config import Settings
from dllab.errors import Unavailable
from dllab.security import shared_secret

PAGE = 200  # JupyterHub's largest page of users


class Hub:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @cached_property
    def token(self) -> str:
        return shared_secret(self._settings.hub_token_file)

    def start_server(self, user: str, server: str) -> None:
        """Ask for the server; the hub answers at once (its spawn runs on) and makes the
        user on first use."""
        answer = self._call("POST", f"/users/{user}/servers/{server}")
        if answer.status_code == 404:  # the hub has not met this user yet
            created = self._call("POST", f"/users/{user}")
            if created.status_code not in (201, 409):
                raise self._refused(created)
            answer = self._call("POST", f"/users/{user}/servers/{server}")
        if answer.status_code == 400 and "already" in answer.text:
            return  # running or starting: what was asked
        if answer.status_code not in (201, 202):
            raise self._refused(answer)

    def stop_server(self, user: str, server: str, remove: bool = False) -> None:
        """Stop the server (``remove``: and forget it); one the hub does not know is fine."""
        answer = self._call("DELETE", f"/users/{user}/servers/{server}",
                            json={"remove": remove})
        if answer.status_code not in (202, 204, 404):
            raise self._refused(answer)

    def last_activity(self) -> dict[tuple[str, str], datetime | None]:
        """When each running server was last used, as its JupyterLab and its activity
        helper reported: {(user, server): time}."""
        found: dict[tuple[str, str], datetime | None] = {}
        offset = 0
        while True:
            answer = self._call("GET", f"/users?state=active&offset={offset}&limit={PAGE}")
            if answer.status_code != 200:
                raise self._refused(answer)
            page = answer.json()
            for user in page:
                for server, info in (user.get("servers") or {}).items():
                    stamp = info.get("last_activity")
                    found[user["name"], server] = (
                        datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None)
            if len(page) < PAGE:  # the last page
                return found
            offset += PAGE

    def _call(self, method: str, path: str, json: Any = None) -> httpx.Response:
        try:
            return httpx.request(method, self._settings.hub_url + path, json=json, timeout=10,
                                 headers={"Authorization": f"token {self.token}"})
        except httpx.HTTPError as exc:
            raise Unavailable("JupyterHub is not reachable; is `dllab hub` running?",
                              reason="hub_unavailable",
                              log=f"{method} {self._settings.hub_url}{path}: {exc!r}") from exc

    @staticmethod
    def _refused(answer: httpx.Response) -> Unavailable:
        return Unavailable(f"JupyterHub refused: {answer.status_code} {answer.text[:300]}",
                           reason="hub_refused")
