from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.security import OAuth2PasswordRequestForm

from dllab.api.deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    CallerDep,
    SessionDep,
    SettingsDep,
)
from dllab.db.models import TokenKind
from dllab.schemas.users import AccessToken, LoginRequest, SessionPublic, UserPublic
from dllab.services import auth

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/token", response_model=AccessToken)
def token(form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep,
          settings: SettingsDep) -> AccessToken:
    """OAuth2 password flow: username and password in a form, a bearer token back."""
    _, row, secret = auth.login(session, settings, form.username, form.password,
                                TokenKind.login)
    assert row.expires_at is not None
    return AccessToken(access_token=secret, expires_at=row.expires_at)


@router.post("/login", response_model=SessionPublic)
def login(body: LoginRequest, response: Response, session: SessionDep,
          settings: SettingsDep) -> SessionPublic:
    """Console login: sets an HttpOnly session cookie. Requests that change anything must
    then carry the returned ``csrf_token`` in the ``X-CSRF-Token`` header."""
    user, row, secret = auth.login(session, settings, body.username, body.password,
                                   TokenKind.session)
    assert row.expires_at is not None and row.csrf_token is not None
    max_age = int(settings.access_token_hours * 3600)
    response.set_cookie(SESSION_COOKIE, secret, max_age=max_age, httponly=True,
                        samesite="strict", secure=settings.secure_cookies, path="/")
    response.set_cookie(CSRF_COOKIE, row.csrf_token, max_age=max_age, httponly=False,
                        samesite="strict", secure=settings.secure_cookies, path="/")
    return SessionPublic(user=UserPublic.model_validate(user), csrf_token=row.csrf_token,
                         expires_at=row.expires_at)


@router.post("/logout", status_code=204)
def logout(caller: CallerDep, response: Response, session: SessionDep) -> Response:
    """Ends the session (or revokes the login token) that made this request."""
    auth.logout(session, caller.token)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    response.status_code = 204
    return response
