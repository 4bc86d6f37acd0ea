"""Domain errors, and how each maps to HTTP.

    DLLabError                 base: reason (machine-readable), message (for users), log
     ├── BadRequest            400  the request is well-formed but cannot be done as asked
     ├── NotAuthenticated      401  no credentials, or wrong, revoked or expired ones
     ├── Forbidden             403  authenticated, but not allowed (e.g. not an admin)
     ├── NotFound              404  no such object, or one that belongs to another user
     ├── Conflict              409  clashes with what exists (duplicate name, wrong state)
     ├── PayloadTooLarge       413  a request body over its limit
     └── Unavailable           503  a part the request needs is down (broker, database)

Foreign errors (SQLAlchemy, kombu, docker) are translated at the boundary that calls them;
one handler in ``api/errors.py`` turns these into ``{"detail": message, "reason": reason}``.
"""

from __future__ import annotations


class DLLabError(Exception):
    status_code = 500
    reason = "internal"

    def __init__(self, message: str, *, reason: str | None = None, log: str | None = None):
        super().__init__(message)
        self.message = message
        if reason:
            self.reason = reason
        self.log_message = log or message


class BadRequest(DLLabError):
    status_code = 400
    reason = "bad_request"


class NotAuthenticated(DLLabError):
    status_code = 401
    reason = "not_authenticated"


class Forbidden(DLLabError):
    status_code = 403
    reason = "forbidden"


class NotFound(DLLabError):
    status_code = 404
    reason = "not_found"


class Conflict(DLLabError):
    status_code = 409
    reason = "conflict"


class PayloadTooLarge(DLLabError):
    status_code = 413
    reason = "payload_too_large"


class Unavailable(DLLabError):
    status_code = 503
    reason = "unavailable"
