"""Admin policies that act on workloads: reclaiming idle GPUs."""

from __future__ import annotations

from fastapi import APIRouter

from dllab.api.deps import AdminUser, CurrentUser, Limit, Offset, SessionDep
from dllab.schemas.metrics import ReclaimPolicy, Reclaims
from dllab.services import reclaim

router = APIRouter(prefix="/policies", tags=["policies"])


@router.get("/idle-gpus", response_model=ReclaimPolicy)
def get_idle_gpus(_: CurrentUser, session: SessionDep) -> ReclaimPolicy:
    """The idle-GPU policy: environments whose GPUs all stay under 5% use for
    ``idle_seconds`` are stopped (workspace kept), their owner warned ``warn_seconds``
    before. Off until an admin turns it on."""
    return reclaim.policy(session)


@router.put("/idle-gpus", response_model=ReclaimPolicy)
def set_idle_gpus(body: ReclaimPolicy, _: AdminUser, session: SessionDep) -> ReclaimPolicy:
    """Change the idle-GPU policy (admin only); it applies from the next check."""
    return reclaim.set_policy(session, body)


@router.get("/idle-gpus/reclaims", response_model=Reclaims)
def list_reclaims(user: CurrentUser, session: SessionDep, offset: Offset = 0,
                  limit: Limit = 100) -> Reclaims:
    """Environments the policy stopped, newest first (yours; an admin's: everyone's), with
    the GPU-hours reclaimed: GPUs x time from the stop until the environment started again."""
    return reclaim.reclaims(session, user, offset, limit)
