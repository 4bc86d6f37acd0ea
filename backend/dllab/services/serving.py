"""Prediction services: what each one wants (its model, the version of each track, how
many replicas, each track's share of the traffic, autoscaling, an access token). Asking
for a change only records it; ``rollout`` makes the replicas and routes follow, replica by
replica, with no request dropped."""

from __future__ import annotations

import hmac
import uuid

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dllab.config import Settings
from dllab.db.models import Host, Model, Service, ServiceReplica, Unit, User
from dllab.db.models.base import utcnow
from dllab.dispatch import Dispatcher
from dllab.errors import BadRequest, Conflict
from dllab.protocol import UnitState
from dllab.schemas.serving import (
    CanaryCreate,
    ReplicaPublic,
    ServiceCreate,
    ServicePublic,
    ServiceStatus,
    ServiceUpdate,
    Track,
    VersionChoice,
)
from dllab.services import models, owned, rollout, service_tokens, submissions
from dllab.services.units import unit_gpus
from dllab.serving.routes import prefix

DEFAULT_IMAGE = "dllab/runtime:tf-cpu"  # what make images builds: TensorFlow, dllab-serve
STABLE, CANARY = "stable", "canary"


def get(session: Session, user: User, service_id: str) -> Service:
    return owned.get(session, user, Service, service_id, "service")


def list_services(session: Session, user: User, offset: int, limit: int,
                  owner: str | None = None) -> tuple[list[Service], int]:
    query = owned.visible(user, Service)
    if owner is not None:
        query = query.join(User, User.id == Service.owner_id).where(User.username == owner)
    rows = session.scalars(query.order_by(Service.name).offset(offset).limit(limit))
    return list(rows), session.scalar(select(func.count()).select_from(query.subquery())) or 0


def create(session: Session, settings: Settings, dispatcher: Dispatcher, owner: User,
           body: ServiceCreate) -> tuple[Service, str | None]:
    """Check everything, record the service, start its replicas; the token (when asked
    for) is only in the answer."""
    model = models.by_name(session, owner, body.model)
    version = models.resolve(session, model, body.version, body.label)
    body = body.model_copy(update={"image": body.image or DEFAULT_IMAGE})
    assert body.image is not None
    submissions.check_image(session, body.image)
    submissions.check_docker_host(session, "prediction services")
    submissions.check_gpus(session, body.gpus_per_replica, each=" for each replica")
    replicas = body.replicas
    if body.autoscale is not None:
        replicas = min(body.autoscale.max, max(body.autoscale.min, replicas))
    token = service_tokens.new() if body.token else None
    service = Service(id=uuid.uuid4().hex, name=body.name, owner_id=owner.id,
                      model_id=model.id, spec=body.model_dump(mode="json", exclude={"token"}),
                      tracks=[_track(STABLE, version, 100, replicas)],
                      token=service_tokens.seal(settings, token) if token else None,
                      created_at=utcnow())
    session.add(service)
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(f"a service named {body.name} exists already (names are in the "
                       "public URL, so they are unique across users)",
                       reason="service_exists") from exc
    rollout.converge(session, settings, dispatcher, service)
    return service, token


def update(session: Session, settings: Settings, dispatcher: Dispatcher, service: Service,
           body: ServiceUpdate) -> Service:
    """A new version rolls the stable track over; replicas and autoscale resize it."""
    tracks = [dict(t) for t in service.tracks]
    stable = tracks[0]
    spec = dict(service.spec)
    if body.version is not None or body.label is not None:
        stable["version"] = _version(session, service, body)
    if body.autoscale_off:
        spec["autoscale"] = None
    if body.autoscale is not None:
        spec["autoscale"] = body.autoscale.model_dump(mode="json")
    if body.replicas is not None:
        stable["replicas"] = body.replicas
    if spec.get("autoscale"):
        rule = spec["autoscale"]
        stable["replicas"] = min(rule["max"], max(rule["min"], stable["replicas"]))
    service.tracks, service.spec, service.fewer_since = tracks, spec, None
    session.commit()
    rollout.converge(session, settings, dispatcher, service)
    return service


def start_canary(session: Session, settings: Settings, dispatcher: Dispatcher,
                 service: Service, body: CanaryCreate) -> Service:
    """Send ``weight`` percent of the requests to replicas of another version; again to
    change its weight or version."""
    version = _version(session, service, body)
    if version == service.tracks[0]["version"]:
        raise BadRequest(f"the stable replicas serve version {version} already",
                         reason="canary_is_stable")
    service.tracks = [_track(STABLE, service.tracks[0]["version"], 100 - body.weight,
                             service.tracks[0]["replicas"]),
                      _track(CANARY, version, body.weight, body.replicas)]
    session.commit()
    rollout.converge(session, settings, dispatcher, service)
    return service


def promote(session: Session, settings: Settings, dispatcher: Dispatcher,
            service: Service) -> Service:
    """The canary's version becomes the stable one: its replicas join the stable track
    and the old version's are drained as the track is rolled over."""
    canary = _canary(service)
    stable = service.tracks[0]
    service.tracks = [_track(STABLE, canary["version"], 100, stable["replicas"])]
    for replica in rollout.live_replicas(session, service):
        if replica.track == CANARY:
            replica.track = STABLE
    session.commit()
    rollout.converge(session, settings, dispatcher, service)
    return service


def rollback(session: Session, settings: Settings, dispatcher: Dispatcher,
             service: Service) -> Service:
    """Drop the canary: all traffic back to the stable replicas, the canary's drained."""
    _canary(service)
    stable = service.tracks[0]
    service.tracks = [_track(STABLE, stable["version"], 100, stable["replicas"])]
    session.commit()
    rollout.converge(session, settings, dispatcher, service)
    return service


def delete(session: Session, settings: Settings, dispatcher: Dispatcher,
           service: Service) -> None:
    """Unrouted at once; its replicas are stopped (what they were answering is lost)."""
    rollout.remove(session, settings, dispatcher, service)


def new_token(session: Session, settings: Settings, service: Service) -> str:
    token = service_tokens.new()
    service.token = service_tokens.seal(settings, token)
    session.commit()
    return token


def drop_token(session: Session, service: Service) -> None:
    service.token = None
    session.commit()


def model_of(session: Session, service: Service) -> Model:
    model = session.get(Model, service.model_id)
    assert model is not None  # a served model cannot be deleted
    return model


def _version(session: Session, service: Service, choice: VersionChoice) -> int:
    return models.resolve(session, model_of(session, service), choice.version, choice.label)


def _canary(service: Service) -> dict[str, int | str]:
    if len(service.tracks) < 2:
        raise BadRequest(f"service {service.name} has no canary", reason="no_canary")
    return service.tracks[1]


def _track(name: str, version: int, weight: int, replicas: int) -> dict[str, int | str]:
    return {"name": name, "version": version, "weight": weight, "replicas": replicas}


def replica_rows(session: Session, service: Service, ended: int = 10) -> list[ServiceReplica]:
    """Live replicas, then the last ``ended`` ones that ended."""
    live = rollout.live_replicas(session, service)
    gone = session.scalars(select(ServiceReplica).where(
        ServiceReplica.service_id == service.id, ServiceReplica.ended_at.is_not(None))
        .order_by(ServiceReplica.ended_at.desc()).limit(ended)).all()
    return [*live, *gone]


def to_public(session: Session, settings: Settings, service: Service) -> ServicePublic:
    model = model_of(session, service)
    owner = session.get(User, service.owner_id)
    state, reason = rollout.status(session, service)
    found = {r.row.workload_id: r for r in rollout.replicas(session, service)}
    shown = []
    for row in replica_rows(session, service):
        replica = found.get(row.workload_id)
        unit = replica.unit if replica else rollout.unit_of(session, row.workload_id)
        host = session.get(Host, unit.host_id) if unit and unit.host_id else None
        shown.append(ReplicaPublic(
            id=row.workload_id, unit=unit.id if unit else "", track=row.track,
            version=row.version, state=_replica_state(row, replica, unit),
            host=host.name if host else None, address=replica.address if replica else None,
            gpus=unit_gpus(host, unit) if unit else [], error=unit.error if unit else None,
            created_at=row.created_at, ready_at=row.ready_at))
    return ServicePublic(
        id=service.id, name=service.name, owner=owner.username if owner else "?",
        model=model.name, model_id=model.id, status=state, reason=reason,
        url=f"{settings.public_edge_url}{prefix(service.name)}/v1/models/{model.name}",
        tracks=[Track(**t) for t in service.tracks], replicas=shown,
        token_required=service.token is not None, spec=service.spec,
        created_at=service.created_at)


def _replica_state(row: ServiceReplica, replica: rollout.Replica | None,
                   unit: Unit | None) -> str:
    if row.ended_at is not None or replica is None:
        return f"ended ({unit.state})" if unit else "ended"
    if row.draining_since is not None:
        return "draining"
    if replica.serving:
        return "ready"
    return "queued" if unit is not None and unit.state == UnitState.queued else "starting"


def unrouted(session: Session, settings: Settings, name: str,
             authorization: str | None) -> tuple[int, str]:
    """Why a request for ``/serving/<name>/`` reached the control plane, not a replica."""
    service = session.scalar(select(Service).where(Service.name == name))
    if service is None:
        return 404, f"no prediction service named {name}"
    expected = service_tokens.open_token(settings, service.token)
    if expected is not None and not hmac.compare_digest(
            (authorization or "").encode(), f"Bearer {expected}".encode()):
        return 401, (f"service {name} needs its access token: "
                     "send the header 'Authorization: Bearer TOKEN'")
    state, reason = rollout.status(session, service)
    if state in (ServiceStatus.serving, ServiceStatus.updating, ServiceStatus.degraded):
        return 503, f"service {name} is being routed again; retry in a second"
    return 503, f"service {name} has no replica ready ({state}{': ' + reason if reason else ''})"
