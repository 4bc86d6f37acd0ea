"""One place that turns errors into HTTP answers: ``{"detail": "...", "reason": "..."}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from dllab.errors import DLLabError

log = logging.getLogger("dllab.api")


def _where(loc: tuple[object, ...]) -> str:
    return ".".join(str(part) for part in loc)


def install(app: FastAPI) -> None:
    @app.exception_handler(DLLabError)
    async def domain_error(request: Request, exc: DLLabError) -> JSONResponse:
        level = logging.WARNING if exc.status_code >= 500 else logging.INFO
        log.log(level, "%s %s -> %s: %s", request.method, request.url.path, exc.status_code,
                exc.log_message)
        return JSONResponse({"detail": exc.message, "reason": exc.reason},
                            status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", "")}
                  for e in exc.errors()]
        summary = "; ".join(f"{_where(tuple(e['loc']))}: {e['msg']}" for e in errors)
        return JSONResponse({"detail": f"invalid request: {summary}", "reason": "invalid",
                             "errors": errors}, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail, "reason": "http"},
                            status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse({"detail": "internal error; the server log has the details",
                             "reason": "internal"}, status_code=500)
