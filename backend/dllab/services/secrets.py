"""Secrets: users' named credentials (S3 keys for volumes, say), write-only through the API.

Each secret's data is encrypted with Fernet (AES-CBC and HMAC-SHA256) under one key per
control plane, kept in ``DLLAB_HOME/secret-key`` (``security.fernet_key``), so that the
database, or a backup of it, gives nothing away without that file. The sealed text names
the secret's owner and name, so that a token copied into another row does not open there.

Secrets are strictly per user, admins included: another user's secret is "not found".
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dllab.config import Settings
from dllab.db.models import Secret, User
from dllab.db.models.base import utcnow
from dllab.errors import BadRequest, Conflict, DLLabError, NotFound
from dllab.schemas.secrets import SecretCreate, SecretReplace
from dllab.security import fernet_key

KEY_FILE = "secret-key"  # in DLLAB_HOME


def list_secrets(session: Session, owner: User, offset: int,
                 limit: int) -> tuple[list[Secret], int]:
    mine = Secret.owner_id == owner.id
    rows = session.scalars(select(Secret).where(mine).order_by(Secret.name)
                           .offset(offset).limit(limit)).all()
    return list(rows), session.scalar(select(func.count(Secret.id)).where(mine)) or 0


def create(session: Session, settings: Settings, owner: User, body: SecretCreate) -> Secret:
    taken = Conflict(f"you have a secret named {body.name} already "
                     f"(PUT /api/v1/secrets/{body.name} replaces its data)",
                     reason="secret_exists")
    if _find(session, owner, body.name) is not None:
        raise taken
    now = utcnow()
    secret = Secret(owner_id=owner.id, name=body.name, keys=sorted(body.data),
                    ciphertext=_seal(settings, owner.id, body.name, body.data),
                    created_at=now, updated_at=now)
    session.add(secret)
    try:
        session.commit()
    except IntegrityError as exc:  # made by a request racing this one
        session.rollback()
        raise taken from exc
    return secret


def replace(session: Session, settings: Settings, owner: User, name: str,
            body: SecretReplace) -> Secret:
    secret = _get(session, owner, name)
    secret.ciphertext = _seal(settings, owner.id, name, body.data)
    secret.keys = sorted(body.data)
    secret.updated_at = utcnow()
    session.commit()
    return secret


def delete(session: Session, owner: User, name: str) -> None:
    session.delete(_get(session, owner, name))
    session.commit()


def secret_data(session: Session, settings: Settings, owner: User, name: str) -> dict[str, str]:
    """The plaintext of ``owner``'s secret ``name``, for the control plane's own use (never
    an API answer). A name they do not have is their mistake: BadRequest."""
    secret = _find(session, owner, name)
    if secret is None:
        raise BadRequest(f"you have no secret named {name} (POST /api/v1/secrets)",
                         reason="unknown_secret")
    return _open(settings, secret)


def _find(session: Session, owner: User, name: str) -> Secret | None:
    return session.scalar(select(Secret).where(Secret.owner_id == owner.id,
                                               Secret.name == name))


def _get(session: Session, owner: User, name: str) -> Secret:
    secret = _find(session, owner, name)
    if secret is None:
        raise NotFound(f"you have no secret named {name}", reason="secret_not_found")
    return secret


def _seal(settings: Settings, owner_id: int, name: str, data: dict[str, str]) -> str:
    plain = json.dumps({"owner": owner_id, "name": name, "data": data}, ensure_ascii=False)
    return Fernet(fernet_key(settings.home / KEY_FILE)).encrypt(plain.encode()).decode()


def _open(settings: Settings, secret: Secret) -> dict[str, str]:
    path = settings.home / KEY_FILE
    try:
        sealed: Any = json.loads(Fernet(fernet_key(path)).decrypt(secret.ciphertext))
    except InvalidToken:
        raise DLLabError(
            f"secret {secret.name} cannot be decrypted: the control plane's secret key "
            "changed (an admin must restore DLLAB_HOME/secret-key from the backup taken with "
            "the database)", reason="secret_key_mismatch",
            log=f"secret {secret.id} does not decrypt with the key in {path}") from None
    if sealed.get("owner") != secret.owner_id or sealed.get("name") != secret.name:
        raise DLLabError(f"secret {secret.name} was tampered with in the database",
                         reason="secret_tampered",
                         log=f"secret {secret.id} holds the sealed data of another secret")
    data: dict[str, str] = sealed["data"]
    return data
