from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dllab.config import Settings
from dllab.db.models import User
from dllab.dispatch import Dispatcher
from dllab.errors import Conflict, NotFound
from dllab.schemas.users import (
    SshKeyPublic,
    SshKeysPublic,
    SshKeysUpdate,
    UserCreate,
    UserUpdate,
)
from dllab.security import hash_password, parse_ssh_public_key
from dllab.services import scheduling


def create_user(session: Session, body: UserCreate) -> User:
    if session.scalar(select(User.id).where(User.username == body.username)) is not None:
        raise Conflict(f"user {body.username!r} exists already", reason="user_exists")
    user = User(username=body.username, password_hash=hash_password(body.password),
                role=body.role)
    session.add(user)
    try:
        session.commit()
    except IntegrityError as exc:  # created by a request racing this one
        session.rollback()
        raise Conflict(f"user {body.username!r} exists already", reason="user_exists") from exc
    return user


def list_users(session: Session, offset: int, limit: int) -> tuple[list[User], int]:
    rows = session.scalars(select(User).order_by(User.id).offset(offset).limit(limit)).all()
    return list(rows), session.scalar(select(func.count(User.id))) or 0


def update_user(session: Session, settings: Settings, dispatcher: Dispatcher, user_id: int,
                body: UserUpdate) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}", reason="user_not_found")
    if "gpu_quota" in body.model_fields_set:
        user.gpu_quota = body.gpu_quota
    session.commit()
    scheduling.run_pass(session, settings, dispatcher)  # a larger quota may let work start
    return user


def ssh_keys(user: User) -> SshKeysPublic:
    keys = [parse_ssh_public_key(line) for line in user.ssh_keys]
    return SshKeysPublic(keys=[SshKeyPublic(key=k.line, type=k.type, comment=k.comment,
                                            fingerprint=k.fingerprint) for k in keys])


def set_ssh_keys(session: Session, user: User, body: SshKeysUpdate) -> SshKeysPublic:
    user.ssh_keys = list(dict.fromkeys(body.keys))  # the same key twice is one key
    session.add(user)
    session.commit()
    return ssh_keys(user)
