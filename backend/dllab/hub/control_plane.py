"""The hub's clients of the control plane, shared by the spawner and the authenticator."""

from __future__ import annotations

from functools import cache

import httpx

from dllab.config import get_settings
from dllab.security import shared_secret


@cache
def control_plane() -> httpx.AsyncClient:
    """Calls as the hub, with the token hub and control plane share."""
    settings = get_settings()
    return httpx.AsyncClient(
        base_url=settings.internal_url + "/api/v1", timeout=30,
        headers={"Authorization": f"Bearer {shared_secret(settings.hub_token_file)}"})


@cache
def as_user() -> httpx.AsyncClient:
    """Calls with the credentials of the user in the request at hand, and no others."""
    return httpx.AsyncClient(base_url=get_settings().internal_url + "/api/v1", timeout=30)
