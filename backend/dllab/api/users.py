from __future__ import annotations

from fastapi import APIRouter

from dllab.api.deps import (
    AdminUser,
    CurrentUser,
    DispatcherDep,
    Limit,
    Offset,
    RowId,
    SessionDep,
    SettingsDep,
)
from dllab.schemas.common import Page
from dllab.schemas.users import SshKeysPublic, SshKeysUpdate, UserCreate, UserPublic, UserUpdate
from dllab.services import users

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/me", response_model=UserPublic)
def me(user: CurrentUser) -> UserPublic:
    """The user making the request."""
    return UserPublic.model_validate(user)


@router.get("/me/ssh-keys", response_model=SshKeysPublic)
def my_ssh_keys(user: CurrentUser) -> SshKeysPublic:
    """Your SSH public keys: environments let them in unless given others."""
    return users.ssh_keys(user)


@router.put("/me/ssh-keys", response_model=SshKeysPublic)
def set_my_ssh_keys(body: SshKeysUpdate, user: CurrentUser,
                    session: SessionDep) -> SshKeysPublic:
    """Replace your SSH public keys (``{"keys": []}`` removes them all)."""
    return users.set_ssh_keys(session, user, body)


@router.get("", response_model=Page[UserPublic])
def list_users(_: AdminUser, session: SessionDep, offset: Offset = 0,
               limit: Limit = 100) -> Page[UserPublic]:
    """Every user (admin only)."""
    rows, count = users.list_users(session, offset, limit)
    return Page(data=[UserPublic.model_validate(u) for u in rows], count=count)


@router.post("", response_model=UserPublic, status_code=201)
def create_user(body: UserCreate, _: AdminUser, session: SessionDep) -> UserPublic:
    """Create a user (admin only)."""
    return UserPublic.model_validate(users.create_user(session, body))


@router.patch("/{user_id}", response_model=UserPublic)
def update_user(user_id: RowId, body: UserUpdate, _: AdminUser, session: SessionDep,
                settings: SettingsDep, dispatcher: DispatcherDep) -> UserPublic:
    """Change a user (admin only): their GPU quota."""
    return UserPublic.model_validate(users.update_user(session, settings, dispatcher, user_id,
                                                       body))
