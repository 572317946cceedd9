"""Domain errors and the one place they are mapped to HTTP responses.

Every API error body has the shape ``{"code": str, "message": str, "detail": object}``.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)


class DomainError(Exception):
    """Base class of the errors services raise for bad input or refused commands."""

    http_status = status.HTTP_400_BAD_REQUEST
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, detail: Any = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.detail = detail if detail is not None else {}


class ValidationFailed(DomainError):
    http_status = status.HTTP_400_BAD_REQUEST
    code = "invalid"


class InvalidTransition(DomainError):
    """A state machine refused a transition from the object's current state."""

    http_status = status.HTTP_409_CONFLICT
    code = "invalid_transition"


class Conflict(DomainError):
    http_status = status.HTTP_409_CONFLICT
    code = "conflict"


class NotFound(DomainError):
    http_status = status.HTTP_404_NOT_FOUND
    code = "not_found"


class Forbidden(DomainError):
    http_status = status.HTTP_403_FORBIDDEN
    code = "permission_denied"


class LockedOut(DomainError):
    """Too many failed password or second-factor checks for this user name and address."""

    http_status = status.HTTP_429_TOO_MANY_REQUESTS
    code = "locked_out"


class RequestTooLarge(DomainError):
    """A request body over the upload limit (``DATA_UPLOAD_MAX_MEMORY_SIZE``)."""

    http_status = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    code = "request_too_large"

    def __init__(self, limit_bytes: int | None):
        super().__init__(
            f"The request body is larger than {limit_bytes} bytes.",
            detail={"max_bytes": limit_bytes},
        )


def error_body(code: str, message: str, detail: Any = None) -> dict[str, Any]:
    return {"code": code, "message": message, "detail": detail if detail is not None else {}}


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.message, exc.detail), status=exc.http_status)
    if isinstance(exc, DjangoValidationError):
        detail = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        return Response(
            error_body("invalid", "The request is not valid.", detail),
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        body = error_body("invalid", "The request is not valid.", response.data)
    elif isinstance(exc, exceptions.Throttled):
        wait_s = math.ceil(exc.wait) if exc.wait is not None else None
        body = error_body(
            "throttled",
            "Too many requests: slow down and retry after the Retry-After header's seconds.",
            {"retry_after_s": wait_s},
        )
    else:
        code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        if not isinstance(code, str):
            code = "error"
        message = (
            response.data.get("detail", str(exc)) if isinstance(response.data, dict) else str(exc)
        )
        body = error_body(code, str(message))
    response.data = body
    return response
