from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from dllab.api.deps import (
    ContextDep,
    CurrentUser,
    DispatcherDep,
    IdPath,
    Limit,
    Offset,
    SessionDep,
    SettingsDep,
)
from dllab.schemas.common import Page
from dllab.schemas.serving import (
    CanaryCreate,
    ServiceCreate,
    ServiceCreated,
    ServiceMetrics,
    ServicePublic,
    ServiceToken,
    ServiceUpdate,
)
from dllab.schemas.users import USERNAME_PATTERN
from dllab.services import models, serving
from dllab.serving.openapi import example_payloads, service_openapi

router = APIRouter(prefix="/services", tags=["services"])
# The public endpoint's answers when the edge proxy had no replica route for a request:
# TensorFlow Serving's error shape, as a client of the service expects.
public = APIRouter(tags=["serving"])


@router.get("", response_model=Page[ServicePublic])
def list_services(user: CurrentUser, session: SessionDep, settings: SettingsDep,
                  offset: Offset = 0, limit: Limit = 100,
                  owner: Annotated[str | None, Query(max_length=64, pattern=USERNAME_PATTERN)]
                  = None) -> Page[ServicePublic]:
    """Your prediction services by name (everyone's, for an admin)."""
    rows, count = serving.list_services(session, user, offset, limit, owner)
    return Page(data=[serving.to_public(session, settings, s) for s in rows], count=count)


@router.post("", response_model=ServiceCreated, status_code=201)
def create_service(body: ServiceCreate, user: CurrentUser, session: SessionDep,
                   settings: SettingsDep, dispatcher: DispatcherDep) -> ServiceCreated:
    """Serve a version of one of your models (``version``, ``label``, or the newest) with
    ``replicas`` replicas behind the edge proxy at ``url``. Poll until ``serving``."""
    service, token = serving.create(session, settings, dispatcher, user, body)
    return ServiceCreated(**serving.to_public(session, settings, service).model_dump(),
                          token=token)


@router.get("/{service_id}", response_model=ServicePublic)
def get_service(service_id: IdPath, user: CurrentUser, session: SessionDep,
                settings: SettingsDep) -> ServicePublic:
    """Status and reason, tracks (version, weight, replicas wanted) and every replica."""
    return serving.to_public(session, settings, serving.get(session, user, service_id))


@router.patch("/{service_id}", response_model=ServicePublic)
def update_service(service_id: IdPath, body: ServiceUpdate, user: CurrentUser,
                   session: SessionDep, settings: SettingsDep,
                   dispatcher: DispatcherDep) -> ServicePublic:
    """A ``version`` or ``label`` rolls the stable replicas over one at a time (no request
    fails); ``replicas`` and ``autoscale`` resize."""
    service = serving.update(session, settings, dispatcher,
                             serving.get(session, user, service_id), body)
    return serving.to_public(session, settings, service)


@router.delete("/{service_id}", status_code=204, response_class=Response)
def delete_service(service_id: IdPath, user: CurrentUser, session: SessionDep,
                   settings: SettingsDep, dispatcher: DispatcherDep) -> Response:
    """Unroute it and stop its replicas."""
    serving.delete(session, settings, dispatcher, serving.get(session, user, service_id))
    return Response(status_code=204)


@router.post("/{service_id}/canary", response_model=ServicePublic)
def start_canary(service_id: IdPath, body: CanaryCreate, user: CurrentUser,
                 session: SessionDep, settings: SettingsDep,
                 dispatcher: DispatcherDep) -> ServicePublic:
    """Send ``weight`` percent of the requests to ``replicas`` replicas of another version;
    again to change it. Then ``promote`` or ``rollback``."""
    service = serving.start_canary(session, settings, dispatcher,
                                   serving.get(session, user, service_id), body)
    return serving.to_public(session, settings, service)


@router.post("/{service_id}/promote", response_model=ServicePublic)
def promote(service_id: IdPath, user: CurrentUser, session: SessionDep,
            settings: SettingsDep, dispatcher: DispatcherDep) -> ServicePublic:
    """The canary's version becomes the stable one, rolled over replica by replica."""
    service = serving.promote(session, settings, dispatcher,
                              serving.get(session, user, service_id))
    return serving.to_public(session, settings, service)


@router.post("/{service_id}/rollback", response_model=ServicePublic)
def rollback(service_id: IdPath, user: CurrentUser, session: SessionDep,
             settings: SettingsDep, dispatcher: DispatcherDep) -> ServicePublic:
    """Drop the canary: all requests go back to the stable version."""
    service = serving.rollback(session, settings, dispatcher,
                               serving.get(session, user, service_id))
    return serving.to_public(session, settings, service)


@router.post("/{service_id}/token", response_model=ServiceToken)
def new_token(service_id: IdPath, user: CurrentUser, session: SessionDep,
              settings: SettingsDep) -> ServiceToken:
    """Require a (new) access token: the old one stops working within a second."""
    service = serving.get(session, user, service_id)
    return ServiceToken(token=serving.new_token(session, settings, service))


@router.delete("/{service_id}/token", status_code=204, response_class=Response)
def drop_token(service_id: IdPath, user: CurrentUser, session: SessionDep) -> Response:
    """Open the service to anyone who reaches it."""
    serving.drop_token(session, serving.get(session, user, service_id))
    return Response(status_code=204)


@router.get("/{service_id}/metrics", response_model=ServiceMetrics)
def service_metrics(service_id: IdPath, user: CurrentUser, session: SessionDep,
                    context: ContextDep,
                    seconds: Annotated[float, Query(gt=0, le=3600)] = 900) -> ServiceMetrics:
    """Requests and errors per second, latency percentiles, requests in flight and routed
    replicas, a point every 2 s over the last ``seconds`` (kept an hour, in memory)."""
    service = serving.get(session, user, service_id)
    stats = context.serving.stats.get(service.id)
    return ServiceMetrics(points=stats.recent(seconds) if stats else [])


@router.get("/{service_id}/openapi.json")
def service_document(service_id: IdPath, user: CurrentUser, session: SessionDep,
                     settings: SettingsDep) -> dict[str, Any]:
    """An OpenAPI document of the service's public endpoint, from its model's signatures
    (the stable version's)."""
    service = serving.get(session, user, service_id)
    model = serving.model_of(session, service)
    version = models.version(session, model, service.tracks[0]["version"])
    return service_openapi(service.name, model.name, version.signatures,
                           settings.public_edge_url, token_required=service.token is not None)


@router.get("/{service_id}/examples")
def service_examples(service_id: IdPath, user: CurrentUser,
                     session: SessionDep) -> dict[str, Any]:
    """Example requests for each signature, row (``instances``) and columnar (``inputs``)."""
    service = serving.get(session, user, service_id)
    model = serving.model_of(session, service)
    version = models.version(session, model, service.tracks[0]["version"])
    return example_payloads(version.signatures)


@public.api_route("/serving/{service}/{path:path}",
                  methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"],
                  include_in_schema=False)
def unrouted(service: str, path: str, request: Request,
             session: SessionDep, settings: SettingsDep) -> JSONResponse:
    """401 without the right token, 404 for no such service, 503 while no replica serves."""
    status, message = serving.unrouted(session, settings, service,
                                       request.headers.get("authorization"))
    return JSONResponse({"error": message}, status_code=status)
