"""Dependencies as ``Annotated`` aliases: ``SessionDep``, ``CurrentUser``, ``AdminUser``...

Those that do no I/O are ``async``: FastAPI runs a sync dependency in a worker thread,
and each such hop costs more than the work itself.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from sqlalchemy.orm import Session

from dllab.api.context import AppContext
from dllab.config import Settings
from dllab.db.models import Host, TokenKind, User
from dllab.dispatch import Dispatcher
from dllab.errors import Forbidden, NotAuthenticated
from dllab.schemas.common import NAME_PATTERN
from dllab.schemas.users import USERNAME_PATTERN
from dllab.services import auth, hosts
from dllab.services.hub import Hub

SESSION_COOKIE = "dllab_session"
CSRF_COOKIE = "dllab_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


async def get_context(request: Request) -> AppContext:
    return request.app.state.context  # type: ignore[no-any-return]


ContextDep = Annotated[AppContext, Depends(get_context)]


def get_session(context: ContextDep) -> Iterator[Session]:
    with context.sessions() as session:
        yield session


# Closed when the route returns, before the answer is sent: a client that has its answer
# (a test about to dispose of the engine, say) never races a session still holding a
# connection. Routes build their answers from rows before returning.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


async def get_settings(context: ContextDep) -> Settings:
    return context.settings


async def get_dispatcher(context: ContextDep) -> Dispatcher:
    return context.dispatcher


async def get_hub(context: ContextDep) -> Hub:
    return context.hub


SettingsDep = Annotated[Settings, Depends(get_settings)]
DispatcherDep = Annotated[Dispatcher, Depends(get_dispatcher)]
HubDep = Annotated[Hub, Depends(get_hub)]


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise NotAuthenticated("the Authorization header must be 'Bearer <token>'",
                               reason="bad_authorization_header")
    return secret.strip()


def get_caller(request: Request, session: SessionDep) -> auth.Caller:
    secret = bearer(request)
    if secret is not None:
        return auth.authenticate(session, secret)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie is None:
        raise NotAuthenticated("not logged in: send 'Authorization: Bearer <token>' "
                               "(POST /api/v1/auth/token) or log in to the console")
    caller = auth.authenticate(session, cookie)
    if caller.token.kind != TokenKind.session:
        raise NotAuthenticated("the session cookie holds no session", reason="bad_token")
    # A cookie is sent by the browser on its own; the header proves the page is ours.
    if request.method not in SAFE_METHODS and \
            request.headers.get(CSRF_HEADER) != caller.token.csrf_token:
        raise Forbidden(f"missing or wrong {CSRF_HEADER} header", reason="csrf")
    return caller


CallerDep = Annotated[auth.Caller, Depends(get_caller)]


async def get_user(caller: CallerDep) -> User:
    return caller.user


CurrentUser = Annotated[User, Depends(get_user)]


async def get_admin(user: CurrentUser) -> User:
    if not user.is_admin:
        raise Forbidden("only an admin may do this", reason="admin_only")
    return user


AdminUser = Annotated[User, Depends(get_admin)]


def get_host(request: Request, session: SessionDep) -> Host:
    secret = bearer(request)
    if secret is None:
        raise NotAuthenticated("agents send 'Authorization: Bearer <host token>'")
    return hosts.host_for_token(session, secret)


CurrentHost = Annotated[Host, Depends(get_host)]


async def check_hub_caller(request: Request, hub: HubDep) -> None:
    """JupyterHub calls with the token it shares with the control plane."""
    secret = bearer(request)
    if secret is None or not hmac.compare_digest(secret, hub.token):
        raise NotAuthenticated("only JupyterHub, with the token it shares with the control "
                               "plane, may call this", reason="not_the_hub")

Offset = Annotated[int, Query(ge=0, le=1_000_000, description="items to skip")]
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]  # integer columns are 32-bit
IdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="32 hex digits")]
NamePath = Annotated[str, Path(min_length=1, max_length=63, pattern=NAME_PATTERN)]
UsernamePath = Annotated[str, Path(min_length=1, max_length=64, pattern=USERNAME_PATTERN)]
Limit = Annotated[int, Query(ge=1, le=500, description="items per page")]
