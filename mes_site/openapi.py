"""drf-spectacular post-processing: what every operation of the API may answer besides its
success, written once instead of on each view (docs/api.md "Errors").

- every operation: 400 (bad query parameters, a NUL character) and 403 (no or unknown
  credentials, missing permission) with the ``{code, message, detail}`` body;
- an operation on an object (a path parameter): 404 (unknown id, or outside the plant scope);
- an unsafe operation (POST, PUT, PATCH, DELETE): 413 (body too large), 415 (not JSON), and
  ``Idempotent-Replayed`` on the responses a retry with the same ``Idempotency-Key`` may
  replay; the header itself and its 409/422 are ``mes_site.api.schema_document_idempotency_keys``;
- the ``time`` fields (shift and break times, ``"06:00:00"``) are described by a pattern, not
  by JSON Schema's ``format: time``, which requires a UTC offset these wall-clock times of a
  plant do not have.

The test that holds the schema to this is tests/test_api_contract.py (schemathesis).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema

from mes_site import idempotency

_ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_ERRORS_EVERYWHERE = {
    "400": "Invalid input: field errors in `detail`, under the parameter's or field's name.",
    "403": "No or unknown credentials, or the user lacks the permission.",
}
_ERRORS_ON_OBJECTS = {"404": "Unknown id, or an object outside the user's plant scope."}
_ERRORS_ON_BODIES = {
    "413": "The request body is larger than the upload limit (`detail.max_bytes`).",
    "415": "The request body is not JSON.",
}
_REPLAYED_HEADER = {
    "description": (
        f"`true` when this is the stored response of an earlier request with the same "
        f"`{idempotency.HEADER}` (nothing ran again); absent otherwise."
    ),
    "schema": {"type": "string", "enum": ["true"]},
}
# An hour, minutes and optional seconds and fraction, as Django's TimeField writes them.
TIME_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?$"
_HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def schema_document_errors(result: dict, generator, request, public) -> dict:
    """drf-spectacular post-processing hook (``SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]``)."""
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in _HTTP_METHODS:
                continue
            responses = operation.setdefault("responses", {})
            documented = dict(_ERRORS_EVERYWHERE)
            if "{" in path:
                documented.update(_ERRORS_ON_OBJECTS)
            is_unsafe = method.upper() in idempotency.UNSAFE_METHODS
            if is_unsafe:
                documented.update(_ERRORS_ON_BODIES)
            for status_code, description in documented.items():
                responses.setdefault(
                    status_code, {"description": description, "content": _ERROR_CONTENT}
                )
            if is_unsafe:
                for status_code, response in responses.items():
                    if not status_code.startswith("5"):
                        response.setdefault("headers", {})[idempotency.REPLAYED_HEADER] = dict(
                            _REPLAYED_HEADER
                        )
    _describe_times_by_pattern(result.get("components", {}).get("schemas", {}))
    for operations in result.get("paths", {}).values():
        _describe_times_by_pattern(operations)
    return result


def _describe_times_by_pattern(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("type") == "string" and node.get("format") == "time":
            del node["format"]
            node["pattern"] = TIME_PATTERN
        for value in node.values():
            _describe_times_by_pattern(value)
    elif isinstance(node, list):
        for value in node:
            _describe_times_by_pattern(value)


class SingleObjectSchema(AutoSchema):
    """For a viewset whose ``list`` answers one object (a figure computed over a query), not
    a list: drf-spectacular takes every ``list`` action for an array otherwise."""

    def _is_list_view(self, serializer=None) -> bool:
        return False
