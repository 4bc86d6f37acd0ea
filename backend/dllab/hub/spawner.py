"""``DLLabSpawner``: a named server is a DLLab environment. The spawner asks the control
plane for its unit and waits for the address; the scheduler and the agents do the rest."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import httpx
from jupyterhub.spawner import Spawner
from traitlets import default

from dllab.hub.control_plane import control_plane

JUPYTER_PORT = 8888  # environments.JUPYTER_PORT; the control plane is not imported here
POLL_SECONDS = 0.1


class EnvironmentFailed(Exception):
    pass


class DLLabSpawner(Spawner):
    @default("ip")
    def _default_ip(self) -> str:
        return "0.0.0.0"  # inside the unit's container; the host port is what the hub uses

    @default("port")
    def _default_port(self) -> int:
        return JUPYTER_PORT

    @property
    def _path(self) -> str:
        return f"/hub/servers/{self.user.name}/{self.name}"

    async def start(self) -> str:
        cp = control_plane()
        answer = await cp.post(self._path + "/spawn", json={"env": self.get_env()})
        _check(answer)
        while True:
            status = (await _get(cp, self._path)).json()
            if status["url"]:
                break
            if not status["alive"] and status["state"] in ("failed", "stopped"):
                raise EnvironmentFailed(f"environment {self.name} {status['state']}: "
                                        f"{status['reason'] or 'no reason given'}")
            await asyncio.sleep(POLL_SECONDS)
        url = str(status["url"])
        await self._wait_answering(cp, url)
        self._ready_watch = asyncio.ensure_future(self._report_ready())
        return url

    async def _wait_answering(self, cp: httpx.AsyncClient, url: str) -> None:
        """Poll JupyterLab briskly until it answers. The hub would too, but backs off to
        seconds between tries: most of a start's time went there."""
        probe = f"{url}{self.server.base_url if self.server else '/'}api"
        deadline = asyncio.get_running_loop().time() + self.http_timeout
        async with httpx.AsyncClient(timeout=2) as client:
            for attempt in itertools.count():
                try:
                    if (await client.get(probe)).status_code < 500:
                        return
                except httpx.HTTPError:
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    return  # the hub's own wait decides, and says why
                if attempt % 20 == 19:  # every 2 s: has the unit ended meanwhile?
                    status = (await _get(cp, self._path)).json()
                    if not status["alive"]:
                        raise EnvironmentFailed(f"environment {self.name} {status['state']}: "
                                                f"{status['reason'] or 'no reason given'}")
                await asyncio.sleep(POLL_SECONDS)

    async def _report_ready(self) -> None:
        """The hub adds the route after ``start`` returns; ready means routed."""
        while self.pending or (self.server is not None and not self.ready):
            await asyncio.sleep(POLL_SECONDS)
        if self.ready:
            await control_plane().post(self._path + "/ready")

    async def poll(self) -> int | None:
        try:
            answer = await _get(control_plane(), self._path)
        except (httpx.HTTPError, EnvironmentFailed):
            return None  # the control plane is away: assume the unit still runs
        return None if answer.json()["alive"] else 0

    async def stop(self, now: bool = False) -> None:
        try:
            answer = await control_plane().post(self._path + "/stopped", json={})
        except httpx.HTTPError as exc:
            self.log.warning("could not tell the control plane %s stopped: %s", self.name, exc)
            return
        if answer.status_code != 404:  # deleted meanwhile: nothing left to stop
            _check(answer)

    def get_state(self) -> dict[str, Any]:
        return {}  # the control plane keeps it all


async def _get(cp: httpx.AsyncClient, path: str) -> httpx.Response:
    return _check(await cp.get(path))


def _check(answer: httpx.Response) -> httpx.Response:
    if answer.status_code >= 400:
        try:
            why = answer.json()["detail"]
        except (ValueError, KeyError):
            why = answer.text[:300]
        raise EnvironmentFailed(f"control plane: {answer.status_code} {why}")
    return answer
