"""Errors the aegis capabilities raise for a request that cannot be served; app.py renders them in the
platform's one error shape ({"error": {"message", "type", "param", "code"}})."""

from __future__ import annotations


class AegisError(Exception):
    """A refusal with the HTTP status the caller should see and a message safe to show."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code:
            self.code = code


class NotFound(AegisError):
    status = 404
    code = "not_found"


class InvalidRequest(AegisError):
    """A body that names something unknown or impossible (422, with the field in `param`)."""

    status = 422
    code = "invalid_request"


class Conflict(AegisError):
    status = 409
    code = "conflict"


class ProbeFailed(AegisError):
    """A storage location failed its write/read/delete probe."""

    status = 400
    code = "probe_failed"


class StorageUnavailable(AegisError):
    """The storage location did not answer (the archive may be fine)."""

    status = 502
    code = "storage_unavailable"
