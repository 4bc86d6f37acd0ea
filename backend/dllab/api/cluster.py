from __future__ import annotations

from fastapi import APIRouter

from dllab.api.deps import AdminUser, CurrentUser, Limit, Offset, SessionDep, SettingsDep
from dllab.schemas.cluster import ClusterPublic, QueueEntry
from dllab.schemas.common import Page
from dllab.services import cluster

router = APIRouter(tags=["cluster"])


@router.get("/cluster", response_model=ClusterPublic)
def get_cluster(_: AdminUser, session: SessionDep, settings: SettingsDep, offset: Offset = 0,
                limit: Limit = 100) -> ClusterPublic:
    """Every host's GPUs, each free or with the unit, workload and user that hold it, and
    the hosts held for the queue's head (admin only)."""
    return cluster.cluster(session, settings, offset, limit)


@router.get("/queue", response_model=Page[QueueEntry])
def get_queue(user: CurrentUser, session: SessionDep, offset: Offset = 0,
              limit: Limit = 100) -> Page[QueueEntry]:
    """Workloads waiting for GPUs, in order, each with its position and why it waits. Yours
    only, with positions among everyone's; every one for an admin."""
    rows, count = cluster.queue(session, user, offset, limit)
    return Page(data=rows, count=count)
