"""What a user may see of an owned resource: their own rows, or every row for an admin.
Jobs, environments, units, models, services, alerts, reclaims and queued workloads are read
through here, so that no query can forget the owner filter. (Secrets and tokens are not:
not even an admin sees another user's.)"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from dllab.db.models import User
from dllab.errors import NotFound

Row = TypeVar("Row")
Rows = TypeVar("Rows", bound=tuple[Any, ...])


def scope(query: Select[Rows], user: User, model: Any) -> Select[Rows]:
    """``query`` cut to the rows of ``model`` that ``user`` may see."""
    return query if user.is_admin else query.where(model.owner_id == user.id)


def visible(user: User, model: type[Row]) -> Select[tuple[Row]]:
    return scope(select(model), user, model)


def get(session: Session, user: User, model: type[Row], row_id: Any, noun: str) -> Row:
    """The row, or 404 whether it is missing or someone else's: no one learns what others
    have by guessing ids."""
    row = session.scalar(visible(user, model).where(model.id == row_id))
    if row is None:
        raise NotFound(f"no {noun} {row_id}", reason=f"{noun}_not_found")
    return row
