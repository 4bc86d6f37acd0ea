from __future__ import annotations

from fastapi import APIRouter, Response

from dllab.api.deps import CurrentUser, Limit, Offset, RowId, SessionDep
from dllab.schemas.common import Page
from dllab.schemas.tokens import TokenCreate, TokenCreated, TokenPublic
from dllab.services import tokens

router = APIRouter(prefix="/tokens", tags=["tokens"])


@router.get("", response_model=Page[TokenPublic])
def list_tokens(user: CurrentUser, session: SessionDep, offset: Offset = 0,
                limit: Limit = 100) -> Page[TokenPublic]:
    """Your personal API tokens (never their secrets)."""
    rows, count = tokens.list_tokens(session, user, offset, limit)
    return Page(data=[TokenPublic.model_validate(t) for t in rows], count=count)


@router.post("", response_model=TokenCreated, status_code=201)
def create_token(body: TokenCreate, user: CurrentUser, session: SessionDep) -> TokenCreated:
    """Create a personal API token. The secret is in this answer only: store it now."""
    row, secret = tokens.create_token(session, user, body)
    return TokenCreated(**TokenPublic.model_validate(row).model_dump(), token=secret)


@router.delete("/{token_id}", status_code=204)
def revoke_token(token_id: RowId, user: CurrentUser, session: SessionDep) -> Response:
    """Revoke one of your tokens; it stops working at once."""
    tokens.revoke_token(session, user, token_id)
    return Response(status_code=204)
