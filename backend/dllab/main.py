"""``create_app(settings)``: the control plane as an ASGI app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from dllab import __version__
from dllab.api import (
    agent,
    alerts,
    auth,
    cluster,
    environments,
    errors,
    health,
    hosts,
    hub,
    images,
    jobs,
    metrics,
    models,
    policies,
    secrets,
    services,
    tokens,
    units,
    users,
)
from dllab.api.context import AppContext
from dllab.config import Settings
from dllab.db import make_engine, make_session_factory, migrate
from dllab.dispatch import Dispatcher
from dllab.monitoring.rules import Pending
from dllab.services import gpu_metrics, reclaim, rollout, tensorboards
from dllab.services.alerts import deliver_due, ensure_default_rules, evaluate
from dllab.services.auth import ensure_admin
from dllab.services.environments import stop_idle
from dllab.services.hub import Hub
from dllab.services.logs import LogStore
from dllab.services.outcomes import tick
from dllab.services.periodic import Periodic

FRONTEND = Path(__file__).resolve().parents[2] / "frontend"


def _operation_id(route: APIRoute) -> str:
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name


def build_context(settings: Settings) -> AppContext:
    """Connect to the database (migrating it to the newest schema) and the broker."""
    settings.home.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.sqlalchemy_url)
    migrate.upgrade(engine)
    return AppContext(settings=settings, engine=engine, sessions=make_session_factory(engine),
                      dispatcher=Dispatcher(settings.broker_url),
                      logs=LogStore(settings.unit_logs_dir), hub=Hub(settings))


def _cull(context: AppContext) -> None:
    with context.sessions() as session:
        stop_idle(session, context.settings, context.dispatcher, context.hub)
        tensorboards.stop_idle(session, context.settings, context.dispatcher)


def _compact(context: AppContext) -> None:
    with context.sessions() as session:
        gpu_metrics.compact(session, context.settings)


def _reclaim(context: AppContext) -> None:
    with context.sessions() as session:
        reclaim.run(session, context.settings, context.dispatcher, context.hub, context.gpus)


def _judge_alerts(context: AppContext, pending: Pending) -> None:
    with context.sessions() as session:
        evaluate(session, context.settings, context.gpus, pending)


def _send_alerts(context: AppContext, client: httpx.Client) -> None:
    with context.sessions() as session:
        deliver_due(session, client)


def create_app(settings: Settings, context: AppContext | None = None) -> FastAPI:
    context = context or build_context(settings)
    with context.sessions() as session:
        generated = ensure_admin(session, settings)
        ensure_default_rules(session, settings)
    pending = Pending()  # how long alert conditions have held: the judging loop's alone
    if generated:
        print(f"First admin created: user {settings.admin_username!r}, password {generated} "
              f"(saved in {settings.home / 'admin-password'})", flush=True)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        webhooks = httpx.Client(timeout=5)
        loops = [
            Periodic("scheduler", settings.scheduler_seconds, lambda: tick(
                context.sessions, settings, context.dispatcher)),
            Periodic("serving", settings.serving_seconds, lambda: rollout.reconcile_all(
                context.sessions, settings, context.dispatcher, context.serving)),
            Periodic("idle-culler", settings.environment_idle_check_seconds,
                     lambda: _cull(context)),
            Periodic("gpu-history", 60 if settings.monitoring_seconds else 0,
                     lambda: _compact(context)),
            Periodic("gpu-reclaim", settings.monitoring_seconds,
                     lambda: _reclaim(context)),
            Periodic("alerts", settings.monitoring_seconds,
                     lambda: _judge_alerts(context, pending)),
            # Apart from judging: a webhook slow to answer must not hold alerts back.
            Periodic("alert-webhooks", settings.monitoring_seconds,
                     lambda: _send_alerts(context, webhooks)),
        ]
        for loop in loops:
            loop.start()
        yield
        for loop in loops:
            loop.stop()
        webhooks.close()
        context.dispatcher.close()
        context.engine.dispose()

    # fastapi-offline serves the /docs and /redoc pages' scripts itself: GPU clusters often
    # reach no CDN.
    app = FastAPIOffline(title="DLLab", version=__version__, lifespan=lifespan,
                         generate_unique_id_function=_operation_id,
                         description="Self-hosted deep-learning lab: environments, distributed "
                                     "training jobs, models and prediction services on GPU "
                                     "hosts; the GPU scheduler's queue, users.")
    app.state.context = context
    errors.install(app)
    api = APIRouter(prefix="/api/v1")
    for module in (health, auth, users, tokens, secrets, hosts, images, environments, jobs,
                   models, services, units, cluster, metrics, alerts, policies, agent, hub):
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(services.public)
    app.include_router(metrics.prometheus)
    app.mount("/", StaticFiles(directory=FRONTEND, html=True), name="console")
    return app
