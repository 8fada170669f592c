"""The one error tree of every service (ApiError and its kinds: not found, conflict, invalid request,
unavailable, ...), how a database failure maps onto it, and the one handler that renders them all as
{"error": {"message", "type", "param", "code"}} (OpenAI's shape)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence
from typing import Any, ClassVar

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("oco.errors")

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    502: "upstream_error",
    503: "service_unavailable",
    504: "timeout_error",
}


class ApiError(Exception):
    """An error with an HTTP status that the client should see as-is: the root of the tree. `extra` adds
    top-level fields beside "error" in the body (e.g. an ingestion's id and row errors)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        type_: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.type = type_ or _TYPES.get(status, "api_error")
        self.headers = headers or {}
        self.extra = extra or {}


class ApiErrorKind(ApiError):
    """A kind of ApiError whose status and default code are the class's: `NotFound("backup 12 not found")`.
    Domain errors subclass a kind (e.g. `class MissingRate(Conflict)`) and endpoints let them through."""

    status_code: ClassVar[int] = 500
    default_code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            self.status_code,
            message,
            code=code or self.default_code,
            param=param,
            headers=headers,
            extra=extra,
        )


class BadRequest(ApiErrorKind):
    """A request the service cannot understand (a parameter, a value); `param` names the field."""

    status_code = 400
    default_code = "bad_request"


class NotFound(ApiErrorKind):
    status_code = 404
    default_code = "not_found"


class Conflict(ApiErrorKind):
    """The request is valid but the state of what it names refuses it (taken name, running, in use)."""

    status_code = 409
    default_code = "conflict"


class PayloadTooLarge(ApiErrorKind):
    status_code = 413
    default_code = "too_large"


class InvalidRequest(ApiErrorKind):
    """A well-formed body that names something unknown or impossible (422, the field in `param`)."""

    status_code = 422
    default_code = "invalid_request"


class BadGateway(ApiErrorKind):
    """Something the service depends on outside (storage, a cloud API) did not answer or failed."""

    status_code = 502
    default_code = "upstream_unavailable"


class Unavailable(ApiErrorKind):
    """The service cannot serve now (its database is down, ...): retry later."""

    status_code = 503
    default_code = "unavailable"


# -- database failures ------------------------------------------------------------------------------------

#: SQLSTATE classes of a connection or server-availability failure, or of a transaction the server rolled
#: back for a retry (40: serialization failure, deadlock): retry later
_UNAVAILABLE_CLASSES = ("08", "40", "53", "57")
_UNIQUE_VIOLATION = "23505"
#: SQLite's words for a database it cannot use now (it has no SQLSTATE)
_SQLITE_UNAVAILABLE = ("database is locked", "unable to open database file", "disk I/O error")


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of the first database error in the chain (asyncpg's, directly or through SQLAlchemy)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        code = getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)
        if isinstance(code, str) and len(code) == 5:
            return code
        todo += [getattr(current, "orig", None), current.__cause__, current.__context__]
    return None


def _is_unique_violation(exc: BaseException, state: str) -> bool:
    if state:
        return state == _UNIQUE_VIOLATION
    return isinstance(exc, IntegrityError) and "UNIQUE constraint failed" in str(exc.orig)  # SQLite


def database_error(exc: BaseException) -> ApiError | None:
    """How a database failure answers: a duplicate (SQLSTATE 23505, SQLite's UNIQUE) is 409; another value
    or constraint the database refused (class 22/23) is the request's fault, 400; a lost or refused
    connection, an exhausted pool or a transaction to retry is 503; any other database error is 500. None
    when `exc` is not a database failure."""
    state = sqlstate(exc) or ""
    if not isinstance(exc, DBAPIError | PoolTimeout | ConnectionError | OSError) and not state:
        return None
    detail = (str(getattr(exc, "orig", None) or exc).splitlines() or [""])[0][:300]
    if state[:2] == "23" or isinstance(exc, IntegrityError):
        if _is_unique_violation(exc, state):
            return Conflict(f"the database already holds this row: {detail}", code="duplicate")
        return BadRequest(f"the database refused a value: {detail}", code="invalid_value")
    if state[:2] == "22" or isinstance(exc, DataError):
        return BadRequest(f"the database refused a value: {detail}", code="invalid_value")
    if (
        state[:2] in _UNAVAILABLE_CLASSES
        or isinstance(exc, ConnectionError | OSError | InterfaceError | PoolTimeout)
        or (isinstance(exc, DBAPIError) and exc.connection_invalidated)
        or (isinstance(exc, OperationalError) and any(m in str(exc.orig) for m in _SQLITE_UNAVAILABLE))
    ):
        return Unavailable("the database is unavailable", code="database_unavailable")
    return ApiError(500, "the database failed the request", code="database_error")


# -- rendering --------------------------------------------------------------------------------------------


def error_body(
    status: int,
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
    type_: str | None = None,
    **extra: Any,
) -> bytes:
    """The serialized error shape."""
    body: dict[str, Any] = {
        "error": {
            "message": message,
            "type": type_ or _TYPES.get(status, "api_error"),
            "param": param,
            "code": code,
        }
    }
    body.update(extra)
    return orjson.dumps(body)


def error_response(
    status: int, message: str, *, headers: dict[str, str] | None = None, **kw: Any
) -> Response:
    """A JSON Response in the error shape."""
    return Response(
        error_body(status, message, **kw), status_code=status, media_type="application/json", headers=headers
    )


def api_error_response(exc: ApiError) -> Response:
    """The response of an ApiError of any kind."""
    return error_response(
        exc.status,
        exc.message,
        code=exc.code,
        param=exc.param,
        type_=exc.type,
        headers=exc.headers,
        **exc.extra,
    )


def _field(loc: Sequence[Any]) -> str:
    """The field of a validation error's location: its first element (body, query, path, header) dropped,
    so a body field that is itself named `path` or `query` keeps its name."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def install_error_handlers(app: FastAPI) -> None:
    """The one handler of the tree: ApiError (any kind), HTTP errors, validation errors, database
    failures (classified by database_error) and crashes, all in the one shape."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> Response:
        return api_error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        return error_response(exc.status_code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request"}
        if first.get("type") == "json_invalid":
            refused = await _key_refusal(request)
            if refused is not None:
                return api_error_response(refused)
            first = {**first, "loc": ("body",), "msg": f"{first.get('msg')} at position {first['loc'][-1]}"}
        field = _field(first.get("loc", ()))
        detail = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg")), "type": str(e.get("type"))}
            for e in errors
        ]
        return error_response(
            422, f"{field}: {first.get('msg')}", param=field, code="invalid_request", detail=detail
        )

    async def _database_failure(request: Request, exc: Exception) -> Response:
        failure = database_error(exc) or ApiError(500, "internal server error", code="internal_error")
        if failure.status >= 500:
            log.error("database failure on %s %s", request.method, request.url.path, exc_info=exc)
        return api_error_response(failure)

    for kind in _database_exceptions():
        app.add_exception_handler(kind, _database_failure)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        # Starlette runs this catch-all outermost, after the request-id middleware has finished: the id
        # it left in the scope goes on the log line and the response by hand
        request_id = request.scope.get("state", {}).get("request_id")
        log.error(
            "unhandled error on %s %s",
            request.method,
            request.url.path,
            exc_info=exc,
            extra={"fields": {"request_id": request_id}} if request_id else None,
        )
        headers = {"x-request-id": request_id} if request_id else None
        return error_response(500, "internal server error", code="internal_error", headers=headers)


async def _key_refusal(request: Request) -> ApiError | None:
    """The 401/403 a route's key check gives, run on its own: FastAPI parses a JSON body before it runs any
    dependency, so without this a caller with no key would learn that its body is malformed (422)."""
    todo = list(getattr(getattr(request.scope.get("route"), "dependant", None), "dependencies", ()))
    while todo:
        dependency = todo.pop(0)
        if getattr(dependency.call, "checks_api_key", False):
            try:
                await dependency.call(request)
            except ApiError as exc:
                return exc
            return None
        todo += dependency.dependencies
    return None


def _database_exceptions() -> list[type[Exception]]:
    """What a database failure raises: SQLAlchemy's wrapped driver errors and its pool's timeout, asyncpg's
    own (raw connections, COPY), and a refused connection or an unresolvable host (asyncpg raises both
    unwrapped)."""
    kinds: list[type[Exception]] = [DBAPIError, PoolTimeout, ConnectionError, socket.gaierror]
    try:
        from asyncpg import PostgresError
    except ImportError:  # pragma: no cover - asyncpg is a dependency
        return kinds
    return [*kinds, PostgresError]
