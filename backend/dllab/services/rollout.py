"""Makes each prediction service's replicas and routes follow what it wants, every round of
the control plane's serving loop and after each change asked through the API.

A replica is a workload of one unit running dllab-serve. It is routed (written into the
edge proxy's configuration) once it has answered its health check here, counts as serving
from the next round on (Traefik has loaded its route by then), and stays routed until it
is drained: unrouted first, stopped once Traefik has the new routes and its last request
is answered. So:

- a track rolls to a new version one replica at a time: one more replica of the new
  version starts, and an old one is drained only when enough others serve;
- replicas that end by themselves (crashed, host lost) are replaced, with a growing pause
  once several in a row have failed before ever serving;
- a replica waiting for a GPU, or loading its model, is never replaced for being slow;
- the autoscaler changes the stable track's count from the load (``dllab.serving.autoscale``).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dllab import edge
from dllab.config import Settings
from dllab.db.models import Host, Model, Service, ServiceReplica, Unit, User, Workload
from dllab.db.models.base import utcnow
from dllab.dispatch import Dispatcher
from dllab.protocol import RuntimeKind, UnitSpec, UnitState
from dllab.schemas.serving import SERVE_PORT, Autoscale, Metric, ServiceStatus
from dllab.services import artifacts, scheduling, service_tokens, workloads
from dllab.services.artifacts import MODELS_PATH
from dllab.services.workloads import Stops, UnitTemplate, send_stops
from dllab.serving import autoscale
from dllab.serving.routes import HEALTH_PATH, Backend, Route, dynamic_config
from dllab.serving.stats import Scrape, ServiceStats, parse

log = logging.getLogger(__name__)

KIND = "service"
SURGE = 1  # replicas of a new version started ahead of the old ones' draining
ROUTE_SETTLE = timedelta(seconds=0.5)  # Traefik loads a changed route in milliseconds
DRAIN_GRACE = timedelta(seconds=2)  # Traefik reloads its routes within milliseconds
DRAIN_TIMEOUT = timedelta(seconds=30)  # requests still unanswered by then are cut
FAILURES_BEFORE_PAUSE = 3
# The serving loop and API requests both converge services: one at a time, or two could
# each start the replica that is missing.
_changing = threading.RLock()
MAX_PAUSE = timedelta(minutes=5)


@dataclass
class Book:
    """What the serving loop keeps between rounds, in memory: each service's traffic, and
    each replica's requests in flight at its last scrape."""

    stats: dict[str, ServiceStats] = field(default_factory=dict)
    inflight: dict[str, float] = field(default_factory=dict)


@dataclass
class Replica:
    row: ServiceReplica
    unit: Unit | None
    address: str | None  # host:port, once it runs with its port published

    @property
    def routed(self) -> bool:
        """In the edge proxy's routes: it has answered its health check, is not draining."""
        return (self.row.routed_at is not None and self.row.draining_since is None
                and self.address is not None)

    @property
    def serving(self) -> bool:
        """Routed long enough that Traefik has loaded its route: what decisions count on."""
        return self.routed and self.row.ready_at is not None


def live_replicas(session: Session, service: Service) -> list[ServiceReplica]:
    return list(session.scalars(select(ServiceReplica).where(
        ServiceReplica.service_id == service.id, ServiceReplica.ended_at.is_(None))
        .order_by(ServiceReplica.created_at)))


def replicas(session: Session, service: Service) -> list[Replica]:
    found = []
    for row in live_replicas(session, service):
        unit = unit_of(session, row.workload_id)
        address = None
        if unit is not None and unit.state == UnitState.running and str(SERVE_PORT) in unit.ports:
            host = session.get(Host, unit.host_id)
            if host is not None:
                address = f"{host.address}:{unit.ports[str(SERVE_PORT)]}"
        found.append(Replica(row, unit, address))
    return found


def unit_of(session: Session, workload_id: str) -> Unit | None:
    workload = session.get(Workload, workload_id)
    return None if workload is None else next(iter(workloads.current_gang(session, workload)),
                                              None)


# --- one round ----------------------------------------------------------------------------

def reconcile_all(sessions: sessionmaker[Session], settings: Settings, dispatcher: Dispatcher,
                  book: Book) -> None:
    """The serving loop's round: look at every replica, scale, converge."""
    with sessions() as session:
        services = session.scalars(select(Service)).all()
        for service in services:
            try:
                with _changing:
                    _round(session, settings, dispatcher, book, service)
            except Exception:  # one service's trouble must not stop the others'
                session.rollback()
                log.exception("serving round of service %s", service.name)
        for gone in set(book.stats) - {s.id for s in services}:
            del book.stats[gone]


def _round(session: Session, settings: Settings, dispatcher: Dispatcher, book: Book,
           service: Service) -> None:
    found = replicas(session, service)
    probes = _probe([r.address for r in found if r.address and r.row.ended_at is None])
    now = utcnow()
    scrapes: dict[str, Scrape] = {}
    for replica in found:
        result = probes.get(replica.address or "")
        if result is None:
            continue
        healthy, scrape = result
        if healthy and replica.row.routed_at is None:
            replica.row.routed_at = now
        elif replica.row.routed_at is not None and replica.row.ready_at is None and \
                now - replica.row.routed_at >= ROUTE_SETTLE:
            replica.row.ready_at = now
        if scrape is not None:
            book.inflight[replica.row.workload_id] = scrape.inflight
            if replica.routed:
                scrapes[replica.row.workload_id] = scrape
    stats = book.stats.setdefault(service.id, ServiceStats())
    stats.add(time.time(), scrapes)
    _autoscale(session, service, stats, [r for r in found if r.serving], now)
    stops = _finish_drains(session, service, found, book, now)
    session.commit()
    send_stops(dispatcher, stops)
    _converge(session, settings, dispatcher, service)


def _probe(addresses: list[str]) -> dict[str, tuple[bool, Scrape | None]]:
    """Health and metrics of each replica, in parallel: one that hangs costs its timeout
    once, not once per replica."""
    def one(address: str) -> tuple[bool, Scrape | None]:
        try:
            with httpx.Client(base_url=f"http://{address}", timeout=1.0) as client:
                healthy = client.get(HEALTH_PATH).status_code == 200
                answer = client.get("/metrics")
                return healthy, parse(answer.text) if answer.status_code == 200 else None
        except httpx.HTTPError:
            return False, None
    if not addresses:
        return {}
    with ThreadPoolExecutor(max_workers=min(16, len(addresses))) as pool:
        return dict(zip(addresses, pool.map(one, addresses), strict=True))


def _autoscale(session: Session, service: Service, stats: ServiceStats,
               serving: list[Replica], now: datetime) -> None:
    if not service.spec.get("autoscale"):
        return
    rule = Autoscale.model_validate(service.spec["autoscale"])
    stable = dict(service.tracks[0])
    serving = [r for r in serving if r.row.track == stable["name"]]
    starting = [r for r in live_replicas(session, service)
                if r.track == stable["name"] and r.ready_at is None]
    if not serving:
        return
    value = autoscale.metric_value(rule.metric, stats.recent(autoscale.WINDOW_SECONDS),
                                   _gpu_utilization(session, serving)
                                   if rule.metric == Metric.gpu_util else [])
    wanted = autoscale.desired_replicas(rule, len(serving), value)
    if wanted > stable["replicas"] and not starting:
        # More only once the last ones serve: they were not in the measure yet.
        stable["replicas"], service.scaled_at, service.fewer_since = wanted, now, None
    elif wanted < stable["replicas"]:
        if service.fewer_since is None:
            service.fewer_since = now
        elif now - service.fewer_since >= timedelta(seconds=rule.scale_down_delay_seconds):
            stable["replicas"], service.scaled_at, service.fewer_since = wanted, now, None
    else:
        service.fewer_since = None
    service.tracks = [stable, *service.tracks[1:]]


def _gpu_utilization(session: Session, serving: list[Replica]) -> list[float]:
    """The utilization the replicas' hosts report for the GPUs they hold."""
    values = []
    for replica in serving:
        if replica.unit is None or not replica.unit.gpus:
            continue
        host = session.get(Host, replica.unit.host_id)
        by_index = {g.get("index"): g for g in (host.gpus if host else [])}
        for index in replica.unit.gpus:
            util = by_index.get(index, {}).get("utilization_pct")
            if util is not None:
                values.append(float(util))
    return values


def _finish_drains(session: Session, service: Service, found: list[Replica], book: Book,
                   now: datetime) -> Stops:
    """Stop drained replicas whose last request is answered (or that waited too long);
    note the ones that ended by themselves."""
    stops: Stops = []
    for replica in found:
        row = replica.row
        if replica.unit is None or UnitState(replica.unit.state).final:
            row.ended_at = now
            if row.draining_since is None and replica.unit is not None:
                service.reason = (f"replica {replica.unit.name} {replica.unit.state}"
                                  + (f": {replica.unit.error}" if replica.unit.error else ""))
            book.inflight.pop(row.workload_id, None)
            continue
        if row.draining_since is None:
            continue
        waited = now - row.draining_since
        idle = book.inflight.get(row.workload_id, 0.0) == 0
        if replica.address is None or (waited >= DRAIN_GRACE and idle) or \
                waited >= DRAIN_TIMEOUT:
            stops += workloads.stop_gang(session, [replica.unit], "drained")
    return stops


# --- converging ---------------------------------------------------------------------------

def converge(session: Session, settings: Settings, dispatcher: Dispatcher,
             service: Service) -> None:
    """Start missing replicas, drain outdated and extra ones, write the routes."""
    with _changing:
        _converge(session, settings, dispatcher, service)


def _converge(session: Session, settings: Settings, dispatcher: Dispatcher,
              service: Service) -> None:
    live = [r for r in replicas(session, service) if r.row.draining_since is None]
    now = utcnow()
    paused = _pause_until(session, service)
    created = False
    for track in service.tracks:
        want = track["replicas"]
        mine = [r for r in live if r.row.track == track["name"]]
        current = [r for r in mine if r.row.version == track["version"]]
        outdated = [r for r in mine if r.row.version != track["version"]]
        room = want + (SURGE if outdated else 0)
        while len(current) < want and len(current) + len(outdated) < room and (
                paused is None or now >= paused):
            current.append(_start(session, settings, service, track))
            created = True
        serving = sum(r.serving for r in mine)
        for replica in sorted(outdated, key=lambda r: r.serving):
            if replica.serving and serving - 1 < want:
                break  # the old version serves until enough of the new one does
            replica.row.draining_since = now
            serving -= replica.serving
        if len(current) > want:
            for replica in sorted(current, key=lambda r: (r.serving, r.row.created_at))[
                    :len(current) - want]:
                replica.row.draining_since = now  # not serving yet first, then the newest
    tracks = {t["name"] for t in service.tracks}
    for replica in live:
        if replica.row.track not in tracks:
            replica.row.draining_since = now
    if paused is None:
        service.reason = None
    session.commit()
    _write_routes(session, settings, service)
    if created:
        scheduling.run_pass(session, settings, dispatcher)


def _pause_until(session: Session, service: Service) -> datetime | None:
    """After FAILURES_BEFORE_PAUSE replicas in a row ended before ever serving, the next
    starts only after a pause that doubles each time."""
    served = session.scalar(select(ServiceReplica.ready_at).where(
        ServiceReplica.service_id == service.id, ServiceReplica.ready_at.is_not(None))
        .order_by(ServiceReplica.ready_at.desc()).limit(1))
    query = select(ServiceReplica.ended_at).where(
        ServiceReplica.service_id == service.id, ServiceReplica.ended_at.is_not(None),
        ServiceReplica.ready_at.is_(None), ServiceReplica.draining_since.is_(None))
    if served is not None:
        query = query.where(ServiceReplica.ended_at > served)
    failures = [t for t in session.scalars(query.order_by(ServiceReplica.ended_at.desc()))
                if t is not None]
    if len(failures) < FAILURES_BEFORE_PAUSE:
        return None
    pause = min(MAX_PAUSE, timedelta(seconds=5) * 2 ** (len(failures) - FAILURES_BEFORE_PAUSE))
    return failures[0] + pause


def _start(session: Session, settings: Settings, service: Service,
           track: dict) -> Replica:  # type: ignore[type-arg]
    owner = session.get(User, service.owner_id)
    model = session.get(Model, service.model_id)
    assert owner is not None and model is not None
    spec = service.spec
    mounts, env = artifacts.store(settings).model_replica(model.id, track["version"])
    batching = spec.get("batching") or {}
    command = ["dllab-serve", "--model-name", model.name, "--model-base-path", MODELS_PATH,
               "--port", str(SERVE_PORT),
               "--max-batch-size", str(batching.get("max_batch_size", 32)),
               "--batch-timeout-ms", str(batching.get("batch_timeout_ms", 2))]
    unit = UnitSpec(unit_id="-", name="-", image=spec["image"], runtime=RuntimeKind.docker,
                    command=command, env=env, ports=[SERVE_PORT], mounts=mounts,
                    cpus=spec.get("cpus"), memory_mib=spec.get("memory_mib"))
    workload, _ = workloads.submit(
        session, owner, KIND, service.name,
        [UnitTemplate(service.name, spec.get("gpus_per_replica", 0), unit)])
    row = ServiceReplica(workload_id=workload.id, service_id=service.id, track=track["name"],
                         version=track["version"], created_at=utcnow())
    session.add(row)
    session.flush()
    return Replica(row, None, None)


def _write_routes(session: Session, settings: Settings, service: Service) -> None:
    model = session.get(Model, service.model_id)
    backends = [Backend(url=f"http://{r.address}", track=r.row.track, version=r.row.version)
                for r in replicas(session, service) if r.routed]
    route = Route(service=service.name, weights={t["name"]: t["weight"] for t in service.tracks},
                  labels=model.labels if model else {},
                  token=service_tokens.open_token(settings, service.token))
    edge.write_routes(settings, f"service-{service.name}", dynamic_config(route, backends))


def remove(session: Session, settings: Settings, dispatcher: Dispatcher,
           service: Service) -> None:
    """Unroute a service, stop its replicas, forget it."""
    edge.write_routes(settings, f"service-{service.name}", None)
    stops: Stops = []
    for replica in replicas(session, service):
        if replica.unit is not None:
            stops += workloads.stop_gang(session, [replica.unit], "service deleted")
    session.delete(service)
    session.commit()
    send_stops(dispatcher, stops)


# --- status -------------------------------------------------------------------------------

def status(session: Session, service: Service) -> tuple[ServiceStatus, str | None]:
    found = replicas(session, service)
    live = [r for r in found if r.row.draining_since is None]
    wanted = sum(t["replicas"] for t in service.tracks)
    ready = [r for r in live if r.serving]
    paused = _pause_until(session, service)
    if wanted == 0 and not ready:
        return ServiceStatus.stopped, None
    if paused is not None:
        return ServiceStatus.failing, (f"replicas keep failing before they serve; the next "
                                       f"starts at {paused:%H:%M:%S} UTC. Last: "
                                       f"{service.reason}")
    if not ready:
        return ServiceStatus.starting, _waiting(session, live)
    outdated = any(r.row.version != _version_of(service, r.row.track) for r in live)
    if outdated or len(live) != len(found):
        return ServiceStatus.updating, _waiting(session, live)
    if len(ready) < wanted:
        return (ServiceStatus.updating if len(live) != wanted else ServiceStatus.degraded,
                f"{len(ready)} of {wanted} replicas serve; " + (_waiting(session, live) or ""))
    return ServiceStatus.serving, None


def _version_of(service: Service, track: str) -> int | None:
    return next((t["version"] for t in service.tracks if t["name"] == track), None)


def _waiting(session: Session, live: list[Replica]) -> str | None:
    """Why the replicas not serving yet wait: the queue's reason, or loading the model."""
    for replica in live:
        if replica.serving:
            continue
        workload = session.get(Workload, replica.row.workload_id)
        if replica.unit is not None and replica.unit.state == UnitState.queued:
            return f"a replica waits in the queue: {workload.reason if workload else ''}"
        return "a replica is starting and loading its model"
    return None
