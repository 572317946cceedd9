"""Shared API building blocks: scoped viewsets, serializer factory, command responses."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, viewsets

from mes_site import idempotency
from mes_site.fields import ModelSerializer

ErrorSerializer = inline_serializer(
    name="Error",
    fields={
        "code": serializers.CharField(),
        "message": serializers.CharField(),
        "detail": serializers.JSONField(),
    },
)

ERROR_RESPONSES = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input (field errors in detail)."),
    403: OpenApiResponse(ErrorSerializer, description="Missing permission."),
    404: OpenApiResponse(ErrorSerializer, description="Unknown id, or outside your plant scope."),
    409: OpenApiResponse(ErrorSerializer, description="Refused in the object's current state."),
}


class ReasonSerializer(serializers.Serializer):
    """Input of a command that takes an optional reason (written to the audit log)."""

    reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


def validated_input(serializer_class, request) -> dict:
    """The command's input checked by ``serializer_class``; field errors become a 400."""
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def command_schema(*, request=None, response=None, summary: str = "") -> Callable:
    """Schema of an explicit POST command: its input, its output and the error format."""
    return extend_schema(
        request=request, responses={200: response, **ERROR_RESPONSES}, summary=summary
    )


def model_serializer(
    model,
    *,
    fields: Iterable[str] | str = "__all__",
    read_only: Iterable[str] = (),
    extra: dict | None = None,
) -> type[ModelSerializer]:
    """A plain ModelSerializer for master data (one line per model instead of a class)."""
    meta = type(
        "Meta",
        (),
        {
            "model": model,
            "fields": fields if fields == "__all__" else list(fields),
            "read_only_fields": list(read_only),
        },
    )
    return type(
        f"{model.__name__}Serializer",
        (ModelSerializer,),
        {"Meta": meta, **(extra or {})},
    )


class ScopedModelViewSet(viewsets.ModelViewSet):
    """A ModelViewSet whose queryset comes from a selector that applies the user's scope.

    Objects outside the user's scope are simply not in the queryset, so they are 404.
    """

    selector: Callable | None = None

    def get_queryset(self):
        return _scoped_queryset(self)


class ScopedReadOnlyViewSet(viewsets.ReadOnlyModelViewSet):
    selector: Callable | None = None

    def get_queryset(self):
        return _scoped_queryset(self)


def _scoped_queryset(view):
    """The selector's queryset, built once per request (the permission check asks for it
    too, for its model); each call gets a fresh copy, never evaluated results."""
    assert view.selector is not None, "set selector on the viewset"
    if getattr(view, "_scoped_queryset", None) is None:
        view._scoped_queryset = type(view).selector(user=view.request.user)
    return view._scoped_queryset.all()


_ERROR_REFERENCE = {"$ref": "#/components/schemas/Error"}
_IDEMPOTENCY_KEY_PARAMETER = {
    "in": "header",
    "name": idempotency.HEADER,
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": idempotency.KEY_MAX_LENGTH},
    "description": (
        "Optional. A retry with the same key and the same request replays the first response "
        f"(header `{idempotency.REPLAYED_HEADER}: true`) instead of running it again; keys live "
        "IDEMPOTENCY_KEY_TTL_S (24 h). Printable ASCII, 1–255 characters (docs/api.md)."
    ),
}
_IDEMPOTENCY_RESPONSES = {
    "409": "Refused in the object's current state, or a request with this Idempotency-Key "
    "is still being processed (`idempotency_key_in_flight`).",
    "422": "This Idempotency-Key was used for a different request (`idempotency_key_reused`).",
}


def schema_document_idempotency_keys(result, generator, request, public):
    """drf-spectacular post-processing hook: every unsafe operation takes ``Idempotency-Key``
    and may answer 409/422 for it (``mes_site.idempotency``)."""
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method.upper() not in idempotency.UNSAFE_METHODS:
                continue
            operation.setdefault("parameters", []).append(dict(_IDEMPOTENCY_KEY_PARAMETER))
            responses = operation.setdefault("responses", {})
            for status_code, description in _IDEMPOTENCY_RESPONSES.items():
                response = responses.setdefault(status_code, {})
                response["description"] = description
                response.setdefault("content", {"application/json": {"schema": _ERROR_REFERENCE}})
    return result
