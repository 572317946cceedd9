"""The API's one request parser: JSON with a size limit, a depth limit and no NUL characters.

The limits answer in the documented error format (``mes_site.errors``) instead of a 500:
a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is a 413 ``request_too_large``, nesting deeper
than ``MAX_JSON_DEPTH`` a 400 ``parse_error``, a NUL character (which PostgreSQL cannot store)
anywhere in a key or string a 400 ``invalid`` naming where it is.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from rest_framework import parsers

# A module import: DRF loads this parser while mes_site.errors imports rest_framework.views.
from mes_site import errors

MAX_JSON_DEPTH = 64
NUL_MESSAGE = "Null characters are not allowed."


def body_limit_bytes() -> int | None:
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def _read_limited(stream, meta: dict) -> bytes:
    """The body, refused with a 413 once it is larger than the upload limit."""
    limit_bytes = body_limit_bytes()
    if limit_bytes is None:
        return stream.read()
    try:
        declared_bytes = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared_bytes = 0
    if declared_bytes > limit_bytes:
        raise errors.RequestTooLarge(limit_bytes)
    body = stream.read(limit_bytes + 1)
    if len(body) > limit_bytes:
        raise errors.RequestTooLarge(limit_bytes)
    return body


def _nul_path(path: tuple) -> str:
    return ".".join(str(part) for part in path) or "non_field_errors"


def check_structure(data: Any, *, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Refuse containers nested deeper than ``max_depth`` and NUL characters; iterative, so
    the check itself cannot overflow the stack."""
    pending: list[tuple[Any, tuple, int]] = [(data, (), 0)]
    while pending:
        value, path, depth = pending.pop()
        if isinstance(value, str):
            if "\x00" in value:
                raise errors.ValidationFailed(
                    "The request is not valid.", detail={_nul_path(path): [NUL_MESSAGE]}
                )
            continue
        if not isinstance(value, dict | list):
            continue
        if depth + 1 > max_depth:
            raise _too_deep(max_depth)
        if isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in key:
                    raise errors.ValidationFailed(
                        "The request is not valid.", detail={_nul_path(path): [NUL_MESSAGE]}
                    )
                pending.append((item, (*path, key), depth + 1))
        else:
            pending.extend((item, (*path, index), depth + 1) for index, item in enumerate(value))


def _too_deep(max_depth: int) -> errors.ValidationFailed:
    return errors.ValidationFailed(
        f"JSON parse error - nested deeper than {max_depth} levels.",
        code="parse_error",
        detail={"max_depth": max_depth},
    )


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser behind the body size, depth and NUL checks."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        request = parser_context.get("request")
        meta = request.META if request is not None else {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        body = _read_limited(stream, meta)
        try:
            data = json.loads(body.decode(encoding), parse_constant=_refuse_constant)
        except RecursionError:
            raise _too_deep(MAX_JSON_DEPTH) from None
        except ValueError as exc:
            raise errors.ValidationFailed(f"JSON parse error - {exc}", code="parse_error") from None
        check_structure(data)
        return data


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")
