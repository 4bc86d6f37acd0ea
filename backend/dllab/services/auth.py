"""Who is calling: passwords, login and session tokens, and resolving a bearer secret."""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from dllab.config import Settings
from dllab.db.models import ApiToken, TokenKind, User, UserRole
from dllab.db.models.base import utcnow
from dllab.errors import NotAuthenticated
from dllab.security import (
    HOST_TOKEN_PREFIX,
    USER_TOKEN_PREFIX,
    hash_password,
    hash_token,
    new_password,
    new_token,
    verify_password,
)

# Writing last_used_at on every request would turn every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@functools.cache
def _unknown_user_hash() -> str:
    return hash_password(new_password())


@dataclass
class Caller:
    user: User
    token: ApiToken


def ensure_admin(session: Session, settings: Settings) -> str | None:
    """Create the first admin when there is no user. Returns a generated password (to be
    shown once), or None when the admin existed or the password came from the settings."""
    if session.scalar(select(User.id).limit(1)) is not None:
        return None
    generated = None if settings.admin_password else new_password()
    password = settings.admin_password or generated
    assert password is not None
    session.add(User(username=settings.admin_username, password_hash=hash_password(password),
                     role=UserRole.admin))
    session.commit()
    if generated:
        settings.home.mkdir(parents=True, exist_ok=True)
        path = settings.home / "admin-password"
        path.write_text(generated + "\n")
        path.chmod(0o600)
    return generated


def check_password(session: Session, username: str, password: str) -> User:
    if "\x00" in username:  # no user has one, and PostgreSQL refuses to compare it
        raise NotAuthenticated("wrong username or password", reason="bad_credentials")
    user = session.scalar(select(User).where(User.username == username))
    # Hash once for unknown users too, so that timing does not tell which usernames exist.
    stored = user.password_hash if user else _unknown_user_hash()
    if not verify_password(password, stored) or user is None:
        raise NotAuthenticated("wrong username or password", reason="bad_credentials")
    return user


def issue_token(session: Session, user: User, kind: TokenKind, name: str,
                expires_at: datetime | None) -> tuple[ApiToken, str]:
    secret = new_token(USER_TOKEN_PREFIX)
    row = ApiToken(user_id=user.id, kind=kind, name=name, token_hash=hash_token(secret),
                   prefix=secret[:10], expires_at=expires_at,
                   csrf_token=secrets.token_urlsafe(24) if kind == TokenKind.session else None)
    session.add(row)
    session.commit()
    return row, secret


def login(session: Session, settings: Settings, username: str, password: str,
          kind: TokenKind) -> tuple[User, ApiToken, str]:
    user = check_password(session, username, password)
    expires = utcnow() + timedelta(hours=settings.access_token_hours)
    return user, *issue_token(session, user, kind, kind.value, expires)


def authenticate(session: Session, secret: str) -> Caller:
    if secret.startswith(HOST_TOKEN_PREFIX):
        raise NotAuthenticated("this is a host token, which only agents use; "
                               "log in or use a personal API token", reason="host_token")
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(secret)))
    if row is None:
        raise NotAuthenticated("the token is invalid or has been revoked", reason="bad_token")
    now = utcnow()
    if row.expires_at is not None and row.expires_at <= now:
        raise NotAuthenticated("the token has expired; log in again", reason="token_expired")
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        row.last_used_at = now
        session.commit()
    user = session.get(User, row.user_id)
    assert user is not None  # tokens are deleted with their user
    return Caller(user, row)


def logout(session: Session, token: ApiToken) -> None:
    session.delete(token)
    session.commit()
