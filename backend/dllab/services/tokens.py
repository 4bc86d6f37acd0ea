"""Personal API tokens: created by their user, listed, revoked. Secrets are shown once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dllab.db.models import ApiToken, TokenKind, User
from dllab.db.models.base import utcnow
from dllab.errors import NotFound
from dllab.schemas.tokens import TokenCreate
from dllab.services.auth import issue_token


def create_token(session: Session, user: User, body: TokenCreate) -> tuple[ApiToken, str]:
    expires = utcnow() + timedelta(days=body.expires_in_days) if body.expires_in_days else None
    return issue_token(session, user, TokenKind.personal, body.name, expires)


def list_tokens(session: Session, user: User, offset: int,
                limit: int) -> tuple[list[ApiToken], int]:
    where = (ApiToken.user_id == user.id, ApiToken.kind == TokenKind.personal)
    rows = session.scalars(select(ApiToken).where(*where).order_by(ApiToken.id)
                           .offset(offset).limit(limit)).all()
    return list(rows), session.scalar(select(func.count(ApiToken.id)).where(*where)) or 0


def revoke_token(session: Session, user: User, token_id: int) -> None:
    """Only the token's own user may revoke it; anyone else is told it does not exist."""
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id or row.kind != TokenKind.personal:
        raise NotFound(f"no token {token_id}", reason="token_not_found")
    session.delete(row)
    session.commit()
