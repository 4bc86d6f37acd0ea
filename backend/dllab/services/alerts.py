"""GPU alerts: the rules admins manage, judging them against the latest readings
(``evaluate``), and the webhook calls each firing and resolving owes (``deliver_due``).

An alert is one firing of one rule on one GPU (or, for ``host_silent_seconds``, one host),
open until it resolves: when a fresh reading no longer meets the condition, the host is
heard from again, the GPU leaves the rule's scope (released, for ``allocated_only``; gone
from its host's readings), or the rule is disabled, changed to another metric or host, or
removed. A GPU whose host sends no fresh readings is not judged: its alerts stay open.

Webhooks: a rule with a ``webhook_url`` owes it a POST of ``{"event": "firing", "alert":
...}`` when an alert fires, and ``{"event": "resolved", ...}`` to the same URL when that
alert resolves (a receiver hears of the resolving of each alert it heard fire, and of no
other). A call that does not answer 2xx is tried again 2, 4, 8, 16, 32 s later, then given
up; a resolving waits for its firing to be delivered or given up.

Default rules are made once per database (``ensure_default_rules``): those made are
recorded in the ``alert-rules-made`` policy row, so that a default an admin removed stays
removed across restarts, while a default added by a later version is still made once.

Admins see every alert; a user sees those raised on GPUs their workloads held.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dllab import __version__
from dllab.config import Settings
from dllab.db.models import (
    Alert,
    AlertDelivery,
    AlertRule,
    Host,
    Policy,
    Unit,
    User,
    Workload,
)
from dllab.db.models.base import utcnow
from dllab.errors import Conflict, NotFound
from dllab.monitoring import rules
from dllab.monitoring.book import FRESH_SECONDS, GpuBook, HostSamples
from dllab.monitoring.rules import Metric, Pending
from dllab.protocol import FINAL_UNIT_STATES, GpuSample, UnitState
from dllab.schemas.alerts import (
    AlertPublic,
    AlertState,
    DeliveryPublic,
    RuleCreate,
    RuleUpdate,
)
from dllab.services import owned

MADE_POLICY = "alert-rules-made"  # Policy row: {"names": [default rules made once]}
MAX_ATTEMPTS = 6
DELIVERIES_PER_ROUND = 100


def default_rules(settings: Settings) -> list[RuleCreate]:
    def rule(**fields: Any) -> RuleCreate:
        return RuleCreate.model_validate(fields, strict=False)

    return [
        rule(name="gpu-hot", metric="temperature_c", op=">", threshold=85,
             duration_seconds=60, severity="critical"),
        rule(name="gpu-memory-full", metric="memory_used_pct", op=">", threshold=95,
             duration_seconds=300, severity="warning"),
        rule(name="gpu-ecc-errors", metric="ecc_errors", op=">", threshold=0,
             severity="critical"),
        rule(name="gpu-xid-errors", metric="xid_errors", op=">", threshold=0,
             severity="critical"),
        rule(name="host-offline", metric="host_silent_seconds", op=">",
             threshold=settings.host_offline_seconds, severity="critical"),
        rule(name="gpu-allocated-idle", metric="gpu_util", op="<", threshold=5,
             duration_seconds=1800, allocated_only=True, severity="warning"),
    ]


def ensure_default_rules(session: Session, settings: Settings) -> list[str]:
    """Make each default rule not made before in this database; the names made now."""
    record = session.get(Policy, MADE_POLICY)
    done = set(record.value.get("names", [])) if record else set()
    made = []
    for body in default_rules(settings):
        if body.name in done:
            continue
        if session.scalar(select(AlertRule.id).where(AlertRule.name == body.name)) is None:
            session.add(AlertRule(**body.model_dump(mode="json")))
            made.append(body.name)
        done.add(body.name)
    if record is None:
        session.add(Policy(name=MADE_POLICY, value={"names": sorted(done)}))
    elif made:
        record.value, record.updated_at = {"names": sorted(done)}, utcnow()
    try:
        session.commit()
    except IntegrityError:  # another process starting on the same database made them
        session.rollback()
        return []
    return made


# -- rules ---------------------------------------------------------------------------------

def list_rules(session: Session, offset: int, limit: int) -> tuple[list[AlertRule], int]:
    rows = session.scalars(select(AlertRule).order_by(AlertRule.name)
                           .offset(offset).limit(limit)).all()
    return list(rows), session.scalar(select(func.count(AlertRule.id))) or 0


def get_rule(session: Session, rule_id: int) -> AlertRule:
    rule = session.get(AlertRule, rule_id)
    if rule is None:
        raise NotFound(f"no alert rule {rule_id}", reason="alert_rule_not_found")
    return rule


def create_rule(session: Session, body: RuleCreate) -> AlertRule:
    _check_name_free(session, body.name)
    rule = AlertRule(**body.model_dump(mode="json"))
    session.add(rule)
    _commit_named(session, body.name)
    return rule


def update_rule(session: Session, rule_id: int, body: RuleUpdate,
                now: datetime | None = None) -> AlertRule:
    """Change the fields given. Disabling the rule, or pointing it at another metric or
    host, resolves its open alerts that no longer apply at once."""
    rule = get_rule(session, rule_id)
    changes = body.model_dump(mode="json", include=body.model_fields_set)
    if "name" in changes and changes["name"] != rule.name:
        _check_name_free(session, changes["name"])
    for name, value in changes.items():
        setattr(rule, name, value)
    now = now or utcnow()
    hosts = set(session.scalars(select(Host.name)))
    for alert in _open_alerts(session, rule.id):
        why = _out_of_force(alert, rule, hosts)
        if why:
            _resolve(session, alert, now, why)
    _commit_named(session, rule.name)
    return rule


def delete_rule(session: Session, rule_id: int, now: datetime | None = None) -> None:
    """Remove the rule; its open alerts resolve (their webhooks are still owed)."""
    rule = get_rule(session, rule_id)
    for alert in _open_alerts(session, rule.id):
        _resolve(session, alert, now or utcnow(), "its rule was removed")
    session.execute(update(Alert).where(Alert.rule_id == rule.id).values(rule_id=None))
    session.delete(rule)
    session.commit()


def _check_name_free(session: Session, name: str) -> None:
    if session.scalar(select(AlertRule.id).where(AlertRule.name == name)) is not None:
        raise Conflict(f"an alert rule named {name} exists already", reason="alert_rule_exists")


def _commit_named(session: Session, name: str) -> None:
    try:
        session.commit()
    except IntegrityError as exc:  # a request racing this one took the name
        session.rollback()
        raise Conflict(f"an alert rule named {name} exists already",
                       reason="alert_rule_exists") from exc


# -- alerts as users see them --------------------------------------------------------------

def list_alerts(session: Session, user: User, state: AlertState | None, offset: int,
                limit: int) -> tuple[list[AlertPublic], int]:
    """Newest first: every alert for an admin, those of a user's workloads for a user."""
    query = owned.visible(user, Alert)
    if state == AlertState.firing:
        query = query.where(Alert.resolved_at.is_(None))
    elif state == AlertState.resolved:
        query = query.where(Alert.resolved_at.is_not(None))
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Alert.started_at.desc(), Alert.id.desc())
                           .offset(offset).limit(limit)).all()
    return to_public(session, rows), count


def get_alert(session: Session, user: User, alert_id: int) -> AlertPublic:
    return to_public(session, [owned.get(session, user, Alert, alert_id, "alert")])[0]


def to_public(session: Session, alerts: Iterable[Alert],
              deliveries: bool = True) -> list[AlertPublic]:
    alerts = list(alerts)
    ids = {a.owner_id for a in alerts if a.owner_id is not None}
    owners: dict[int, str] = {i: name for i, name in session.execute(
        select(User.id, User.username).where(User.id.in_(ids)))} if ids else {}
    owed: dict[int, list[DeliveryPublic]] = {}
    if deliveries and alerts:
        for d in session.scalars(select(AlertDelivery).where(
                AlertDelivery.alert_id.in_([a.id for a in alerts])).order_by(AlertDelivery.id)):
            owed.setdefault(d.alert_id, []).append(DeliveryPublic(
                event=AlertState(d.event), attempts=d.attempts, delivered_at=d.delivered_at,
                next_at=d.next_at, last_error=d.last_error))
    return [AlertPublic(
        id=a.id, rule=a.rule_name, rule_id=a.rule_id, metric=Metric(a.metric),
        severity=a.severity, host=a.host, gpu=a.gpu, workload=a.workload_id,
        owner=owners.get(a.owner_id) if a.owner_id is not None else None, value=a.value,
        message=a.message,
        state=AlertState.firing if a.resolved_at is None else AlertState.resolved,
        started_at=a.started_at, resolved_at=a.resolved_at, deliveries=owed.get(a.id, []))
        for a in alerts]


# -- judging -------------------------------------------------------------------------------

@dataclass
class Judgement:
    """What one ``evaluate`` round changed."""

    fired: list[Alert] = field(default_factory=list)
    resolved: list[Alert] = field(default_factory=list)


def evaluate(session: Session, settings: Settings, book: GpuBook, pending: Pending,
             now: datetime | None = None) -> Judgement:
    """Judge every enabled rule against the book's fresh readings (and, for host silence,
    against when each registered host was last heard from); fire and resolve alerts, and
    owe their webhooks. ``pending`` carries how long conditions have held from one round
    to the next."""
    now = now or utcnow()
    at = now.timestamp()
    judgement = Judgement()
    hosts = {h.name: h for h in session.scalars(select(Host))}
    samples = [s for s in book.latest(math.inf, now=at) if s.host in hosts]
    fresh = {s.host: s for s in samples if at - s.received_at <= FRESH_SECONDS}
    heard = {s.host: s.received_at for s in samples}
    open_alerts = {(a.rule_id, a.host, a.gpu): a for a in _open_alerts(session)}
    rule_rows = {r.id: r for r in session.scalars(select(AlertRule).order_by(AlertRule.id))}
    for key, alert in list(open_alerts.items()):
        why = _out_of_force(alert, rule_rows.get(alert.rule_id or 0), set(hosts))
        if why:
            _resolve(session, alert, now, why, judgement)
            del open_alerts[key]
    round_ = _Round(session, now, pending, open_alerts, judgement)
    for rule in rule_rows.values():
        if not rule.enabled:
            continue
        if Metric(rule.metric).per_host:
            round_.judge_hosts(rule, hosts.values(), heard)
        else:
            for sample in fresh.values():
                if rule.host in (None, sample.host):
                    round_.judge_gpus(rule, sample)
    pending.keep_only(round_.judged)
    session.commit()
    return judgement


class _Round:
    """One ``evaluate`` round's state: the open alerts and what was judged."""

    def __init__(self, session: Session, now: datetime, pending: Pending,
                 open_alerts: dict[tuple[int | None, str, int | None], Alert],
                 judgement: Judgement):
        self.session, self.now, self.at, self.pending = session, now, now.timestamp(), pending
        self.open, self.judgement = open_alerts, judgement
        self.judged: set[rules.Key] = set()

    def judge_gpus(self, rule: AlertRule, sample: HostSamples) -> None:
        metric, present = Metric(rule.metric), set()
        for gpu in sample.gpus:
            present.add(gpu.index)
            key = (rule.id, sample.host, gpu.index)
            alert = self.open.get(key)
            workload = gpu.holder.workload if gpu.holder else None
            if rule.allocated_only and gpu.holder is None:
                if alert:
                    self.resolve(key, "the GPU was released")
                continue
            value = rules.gpu_value(metric, gpu)
            if value is None:  # this GPU lacks the reading: not judged
                continue
            if alert and rule.allocated_only and alert.workload_id != workload:
                self.resolve(key, "the GPU went to another workload")
                alert = None
            self.judge(rule, key, value, alert, gpu, subject=workload if rule.allocated_only
                       else None)
        for key in [k for k in self.open if k[0] == rule.id and k[1] == sample.host
                    and k[2] not in present]:
            self.resolve(key, "the GPU is no longer reported")

    def judge_hosts(self, rule: AlertRule, hosts: Iterable[Host],
                    heard: dict[str, float]) -> None:
        busy: set[int] = set()
        if rule.allocated_only:
            busy = set(self.session.scalars(select(Unit.host_id).where(
                Unit.host_id.is_not(None), Unit.state.not_in(FINAL_UNIT_STATES),
                Unit.state != UnitState.queued)))
        for host in hosts:
            if rule.host not in (None, host.name):
                continue
            key = (rule.id, host.name, None)
            times = [t for t in (heard.get(host.name), host.last_seen_at and
                                 host.last_seen_at.timestamp()) if t]
            if not times:  # never registered: not judged
                continue
            if rule.allocated_only and host.id not in busy:
                if key in self.open:
                    self.resolve(key, "the host no longer runs units")
                continue
            self.judge(rule, key, max(0.0, self.at - max(times)), self.open.get(key))

    def judge(self, rule: AlertRule, key: rules.Key, value: float, alert: Alert | None,
              gpu: GpuSample | None = None, subject: str | None = None) -> None:
        holds = rules.breaches(rule.op, value, rule.threshold)
        self.judged.add(key)
        held = self.pending.observe(key, holds, self.at, subject)
        if alert is None and holds and held >= rule.duration_seconds:
            self.fire(rule, key, value, held, gpu)
        elif alert is not None and not holds:
            metric = Metric(rule.metric)
            self.resolve(key, "heard from again" if metric.per_host
                         else f"now {rules.reading(metric, value)}")

    def fire(self, rule: AlertRule, key: rules.Key, value: float, held: float,
             gpu: GpuSample | None) -> None:
        workload_id = gpu.holder.workload if gpu and gpu.holder else None
        owner_id = self.session.scalar(select(Workload.owner_id).where(
            Workload.id == workload_id)) if workload_id else None
        owner = self.session.scalar(select(User.username).where(User.id == owner_id)) \
            if owner_id is not None else None
        _, host, index = key
        alert = Alert(
            rule_id=rule.id, rule_name=rule.name, metric=rule.metric, severity=rule.severity,
            host=host, gpu=index, workload_id=workload_id, owner_id=owner_id, value=value,
            message=rules.message(Metric(rule.metric), rule.op, rule.threshold, value, host,
                                  index, held, owner),
            started_at=self.now)
        self.session.add(alert)
        self.session.flush()
        if rule.webhook_url:
            _owe(self.session, alert, "firing", rule.webhook_url, self.now)
        self.open[key] = alert
        self.judgement.fired.append(alert)

    def resolve(self, key: tuple[int | None, str, int | None], why: str) -> None:
        alert = self.open.pop(key)
        _resolve(self.session, alert, self.now, why, self.judgement)


def _open_alerts(session: Session, rule_id: int | None = None) -> list[Alert]:
    query = select(Alert).where(Alert.resolved_at.is_(None)).order_by(Alert.id)
    if rule_id is not None:
        query = query.where(Alert.rule_id == rule_id)
    return list(session.scalars(query))


def _out_of_force(alert: Alert, rule: AlertRule | None, hosts: set[str]) -> str | None:
    """Why an open alert resolves whatever the readings say; None: it stands."""
    if rule is None:
        return "its rule was removed"
    if not rule.enabled:
        return "its rule was disabled"
    if alert.metric != rule.metric:
        return "its rule now watches another metric"
    if rule.host is not None and alert.host != rule.host:
        return f"its rule now watches {rule.host} only"
    if alert.host not in hosts:
        return f"host {alert.host} was removed"
    return None


def _resolve(session: Session, alert: Alert, now: datetime, why: str,
             judgement: Judgement | None = None) -> None:
    # Guarded: a request (a rule removed) and the evaluating loop may race to resolve it.
    result = session.execute(
        update(Alert).where(Alert.id == alert.id, Alert.resolved_at.is_(None))
        .values(resolved_at=now, message=f"{alert.message}; resolved: {why}"))
    if getattr(result, "rowcount", 1) == 0:
        return
    url = session.scalar(select(AlertDelivery.url).where(
        AlertDelivery.alert_id == alert.id, AlertDelivery.event == "firing"))
    if url:
        _owe(session, alert, "resolved", url, now)
    if judgement is not None:
        judgement.resolved.append(alert)


def _owe(session: Session, alert: Alert, event: str, url: str, now: datetime) -> None:
    public = to_public(session, [alert], deliveries=False)[0]
    session.add(AlertDelivery(
        alert_id=alert.id, event=event, url=url, next_at=now,
        payload={"event": event, "alert": public.model_dump(mode="json",
                                                            exclude={"deliveries"})}))


# -- webhooks ------------------------------------------------------------------------------

def deliver_due(session: Session, client: httpx.Client, now: datetime | None = None,
                budget_seconds: float = 10.0) -> int:
    """POST each webhook call that is due, in the order they were owed; answers how many
    got a 2xx. One that fails is tried again after 2**attempts seconds, and given up after
    ``MAX_ATTEMPTS``. No call starts after ``budget_seconds`` (the rest wait for the next
    round), so that a webhook slow to answer holds neither the others nor a shutdown long."""
    moment = now or utcnow()
    deadline = time.monotonic() + budget_seconds
    # A resolving waits for its alert's firing: one owed later is left out here, one due
    # now comes first (by id) and, if it fails, holds its resolving back below.
    firing_later = select(AlertDelivery.alert_id).where(
        AlertDelivery.event == "firing", AlertDelivery.delivered_at.is_(None),
        AlertDelivery.next_at > moment)
    due = session.scalars(select(AlertDelivery).where(
        AlertDelivery.delivered_at.is_(None), AlertDelivery.next_at.is_not(None),
        AlertDelivery.next_at <= moment,
        (AlertDelivery.event != "resolved") | AlertDelivery.alert_id.not_in(firing_later))
        .order_by(AlertDelivery.id).limit(DELIVERIES_PER_ROUND)).all()
    delivered, failed = 0, set()
    for delivery in due:
        if time.monotonic() > deadline:
            break
        if delivery.alert_id in failed:
            continue
        error = _post(client, delivery)
        moment = now or utcnow()
        delivery.attempts += 1
        if error is None:
            delivery.delivered_at, delivery.next_at, delivery.last_error = moment, None, None
            delivered += 1
        else:
            failed.add(delivery.alert_id)
            delivery.last_error = error[:2000]
            delivery.next_at = moment + timedelta(seconds=2 ** delivery.attempts) \
                if delivery.attempts < MAX_ATTEMPTS else None
        session.commit()
    return delivered


def _post(client: httpx.Client, delivery: AlertDelivery) -> str | None:
    """None on a 2xx answer, else what went wrong, in words."""
    try:
        answer = client.post(delivery.url, json=delivery.payload, headers={
            "User-Agent": f"dllab/{__version__}", "X-DLLab-Event": delivery.event})
    except Exception as exc:  # a URL an admin typed may fail in any way; the others go on
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if answer.is_success:
        return None
    return f"HTTP {answer.status_code}: {answer.text[:200]}"
