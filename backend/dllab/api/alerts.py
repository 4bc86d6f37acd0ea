from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from dllab.api.deps import AdminUser, CurrentUser, Limit, Offset, RowId, SessionDep
from dllab.schemas.alerts import AlertPublic, AlertState, RuleCreate, RulePublic, RuleUpdate
from dllab.schemas.common import Page
from dllab.services import alerts

router = APIRouter(prefix="/alerts", tags=["alerts"])


@router.get("/rules", response_model=Page[RulePublic])
def list_rules(_: AdminUser, session: SessionDep, offset: Offset = 0,
               limit: Limit = 100) -> Page[RulePublic]:
    """Alert rules by name (admin only). A few are made on first start: gpu-hot,
    gpu-memory-full, gpu-ecc-errors, gpu-xid-errors, host-offline, gpu-allocated-idle."""
    rows, count = alerts.list_rules(session, offset, limit)
    return Page(data=[RulePublic.model_validate(r) for r in rows], count=count)


@router.post("/rules", response_model=RulePublic, status_code=201)
def create_rule(body: RuleCreate, _: AdminUser, session: SessionDep) -> RulePublic:
    """Add a rule (admin only): an alert fires on each GPU in scope (or host, for
    ``host_silent_seconds``) once ``metric op threshold`` has held for
    ``duration_seconds``, and resolves once it no longer holds. With ``webhook_url``, each
    firing and resolving is POSTed there as ``{"event", "alert"}``, retried on failure."""
    return RulePublic.model_validate(alerts.create_rule(session, body))


@router.get("/rules/{rule_id}", response_model=RulePublic)
def get_rule(rule_id: RowId, _: AdminUser, session: SessionDep) -> RulePublic:
    """One alert rule (admin only)."""
    return RulePublic.model_validate(alerts.get_rule(session, rule_id))


@router.patch("/rules/{rule_id}", response_model=RulePublic)
def update_rule(rule_id: RowId, body: RuleUpdate, _: AdminUser,
                session: SessionDep) -> RulePublic:
    """Change the fields given (admin only). Disabling a rule, or pointing it at another
    metric or host, resolves its open alerts that no longer apply."""
    return RulePublic.model_validate(alerts.update_rule(session, rule_id, body))


@router.delete("/rules/{rule_id}", status_code=204, response_class=Response)
def delete_rule(rule_id: RowId, _: AdminUser, session: SessionDep) -> Response:
    """Remove a rule (admin only). Its open alerts resolve; its past alerts stay, under the
    rule's name."""
    alerts.delete_rule(session, rule_id)
    return Response(status_code=204)


@router.get("", response_model=Page[AlertPublic])
def list_alerts(user: CurrentUser, session: SessionDep,
                state: Annotated[AlertState | None, Query(description=(
                    "firing or resolved; left out: both"))] = None,
                offset: Offset = 0, limit: Limit = 100) -> Page[AlertPublic]:
    """Alerts, newest first, with their webhook deliveries: every one for an admin; for a
    user, those raised on GPUs that their workloads held."""
    rows, count = alerts.list_alerts(session, user, state, offset, limit)
    return Page(data=rows, count=count)


@router.get("/{alert_id}", response_model=AlertPublic)
def get_alert(alert_id: RowId, user: CurrentUser, session: SessionDep) -> AlertPublic:
    """One alert (yours, or any for an admin)."""
    return alerts.get_alert(session, user, alert_id)
