from __future__ import annotations

from fastapi import APIRouter

from dllab.api.deps import AdminUser, CurrentUser, Limit, Offset, SessionDep
from dllab.schemas.common import Page
from dllab.schemas.users import UserCreate, UserPublic
from dllab.services import users

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/me", response_model=UserPublic)
def me(user: CurrentUser) -> UserPublic:
    """The user making the request."""
    return UserPublic.model_validate(user)


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
