"""Prediction services' access tokens. The edge proxy matches the token itself (a header
rule), so the control plane must be able to write it into the routes again: it is kept
sealed with the control plane's key (as users' secrets are), not hashed."""

from __future__ import annotations

import secrets

from cryptography.fernet import Fernet

from dllab.config import Settings
from dllab.security import fernet_key
from dllab.services.secrets import KEY_FILE


def new() -> str:
    return secrets.token_urlsafe(24)


def seal(settings: Settings, token: str) -> str:
    return Fernet(fernet_key(settings.home / KEY_FILE)).encrypt(token.encode()).decode()


def open_token(settings: Settings, sealed: str | None) -> str | None:
    if sealed is None:
        return None
    return Fernet(fernet_key(settings.home / KEY_FILE)).decrypt(sealed).decode()
