"""Idempotency keys on the API's unsafe methods, after the IETF ``Idempotency-Key`` header
draft (draft-ietf-httpapi-idempotency-key-header); docs/api.md "Retries and idempotency".

A POST, PUT, PATCH or DELETE under ``/api/`` that carries ``Idempotency-Key`` runs its view at
most once per (user, key) while the key lives (``IDEMPOTENCY_KEY_TTL_S``):

- the first request claims the key (a row created in its own transaction; a unique constraint
  on (user, key) decides between concurrent requests), the view runs, and its response
  (status, JSON body, ``Content-Type``/``Location``) is stored with the key;
- a retry with the same method, path and body gets the stored response again, with
  ``Idempotent-Replayed: true``; the view does not run;
- the same key on another request is a 422 ``idempotency_key_reused``; a retry while the first
  is still running is a 409 ``idempotency_key_in_flight``;
- a 5xx or an exception stores nothing: the key is released and the client may try again.
  A 4xx is the request's result and is stored like a success.

The HTTP side lives here; the keys are rows of ``traceability.IdempotencyKey``, written by the
store that ``traceability`` registers at start-up (``store_register``), since ``mes_site``
imports no app.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.core.exceptions import ImproperlyConfigured, RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mes_site.errors import error_body

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_META_NAME = "HTTP_IDEMPOTENCY_KEY"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
KEY_MAX_LENGTH = 255
KEY_MESSAGE = f"Must be 1 to {KEY_MAX_LENGTH} printable ASCII characters."
STORED_HEADERS = ("Content-Type", "Location")
REUSED_MESSAGE = f"This {HEADER} was used for a different request."
IN_FLIGHT_MESSAGE = f"A request with this {HEADER} is still being processed."


class ClaimOutcome(enum.Enum):
    CLAIMED = "claimed"  # the key is this request's: run the view
    REPLAY = "replay"  # a completed request with the same fingerprint: answer its response
    IN_FLIGHT = "in_flight"  # the first request with this key is still running
    MISMATCH = "mismatch"  # the key belongs to a different request


@dataclass(frozen=True)
class Fingerprint:
    """What makes two requests "the same request": method, path with query and body bytes."""

    method: str
    path: str
    body_sha256: str

    @classmethod
    def of(cls, *, method: str, path: str, body: bytes) -> Fingerprint:
        return cls(method=method, path=path, body_sha256=hashlib.sha256(body).hexdigest())


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: Any  # the decoded JSON body; None for an empty body
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Claim:
    outcome: ClaimOutcome
    record_id: int | None = None  # the claimed row, for complete/release
    stored: StoredResponse | None = None  # the response to replay

    @property
    def is_claimed(self) -> bool:
        return self.outcome is ClaimOutcome.CLAIMED


class Store(Protocol):
    def claim(self, *, user_id: int, key: str, fingerprint: Fingerprint) -> Claim: ...

    def complete(self, *, record_id: int, stored: StoredResponse) -> None: ...

    def release(self, *, record_id: int) -> None: ...


_store: Store | None = None


def store_register(store: Store) -> None:
    global _store
    _store = store


def _registered_store() -> Store:
    if _store is None:
        raise ImproperlyConfigured("No idempotency key store: install the traceability app.")
    return _store


def key_parse(raw: str) -> str | None:
    """The key of a header value (an sf-string's quotes dropped), or None when it is malformed."""
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        raw = raw[1:-1]
    if not 1 <= len(raw) <= KEY_MAX_LENGTH:
        return None
    if not all(" " <= character <= "~" for character in raw):
        return None
    return raw


def key_error_response() -> JsonResponse:
    return JsonResponse(
        error_body("invalid", "The request is not valid.", {HEADER: [KEY_MESSAGE]}), status=400
    )


def replayed_response(stored: StoredResponse) -> HttpResponse:
    content = b""
    if stored.body is not None:
        content = json.dumps(stored.body, ensure_ascii=False, separators=(",", ":")).encode()
    response = HttpResponse(content, status=stored.status_code)
    if "Content-Type" not in stored.headers:
        del response["Content-Type"]  # an empty body (204) has none
    for name, value in stored.headers.items():
        response[name] = value
    response[REPLAYED_HEADER] = "true"
    return response


def refusal_response(claim: Claim) -> HttpResponse:
    """The answer to a request that did not get the key: a replay, a 409 or a 422."""
    if claim.outcome is ClaimOutcome.REPLAY:
        assert claim.stored is not None
        return replayed_response(claim.stored)
    if claim.outcome is ClaimOutcome.MISMATCH:
        return JsonResponse(error_body("idempotency_key_reused", REUSED_MESSAGE), status=422)
    return JsonResponse(error_body("idempotency_key_in_flight", IN_FLIGHT_MESSAGE), status=409)


def stored_response_of(response: HttpResponse) -> StoredResponse | None:
    """What to store of a view's response; None for one that must not be replayed (a 5xx,
    a streamed or non-JSON body)."""
    if response.status_code >= 500 or response.streaming:
        return None
    is_unrendered_view_response = (
        isinstance(response, Response) and getattr(response, "accepted_renderer", None) is None
    )
    if is_unrendered_view_response:  # run_idempotent called inside a view
        content = b"" if response.data is None else JSONRenderer().render(response.data)
    else:
        if hasattr(response, "render"):
            response.render()
        content = response.content
    headers = {name: response[name] for name in STORED_HEADERS if response.has_header(name)}
    if is_unrendered_view_response:
        headers["Content-Type"] = JSONRenderer.media_type
    try:
        body = json.loads(content) if content else None
    except ValueError:
        return None
    if not content:
        headers.pop("Content-Type", None)
    return StoredResponse(status_code=response.status_code, body=body, headers=headers)


def run_idempotent(
    *,
    user_id: int,
    key: str,
    fingerprint: Fingerprint,
    call: Callable[[], HttpResponse],
    on_replay: Callable[[StoredResponse], StoredResponse] | None = None,
) -> HttpResponse:
    """``call()`` at most once per (user, key): claim, run, store (or release on failure)."""
    store = _registered_store()
    claim = store.claim(user_id=user_id, key=key, fingerprint=fingerprint)
    if not claim.is_claimed:
        if on_replay is not None and claim.stored is not None:
            claim = Claim(claim.outcome, claim.record_id, on_replay(claim.stored))
        return refusal_response(claim)
    assert claim.record_id is not None
    try:
        response = call()
        stored = stored_response_of(response)
    except BaseException:
        store.release(record_id=claim.record_id)
        raise
    if stored is None:
        store.release(record_id=claim.record_id)
    else:
        store.complete(record_id=claim.record_id, stored=stored)
    return response


def _authenticated_user_id(request: HttpRequest, view_func) -> int | None:
    """The user the DRF view will see (session or token), None if it will refuse the request.

    DRF's Request writes the user it finds (or AnonymousUser on failure) into the Django
    request; that is put back, or the view's SessionAuthentication would take a token's user
    for a session user (and ask for a CSRF token) or see a session user as anonymous.
    """
    initkwargs = getattr(view_func, "initkwargs", {}) or {}
    classes = initkwargs.get("authentication_classes", view_func.cls.authentication_classes)
    drf_request = Request(request, authenticators=[authentication() for authentication in classes])
    saved = {name: request.__dict__[name] for name in ("user", "auth") if name in request.__dict__}
    try:
        user = drf_request.user
    except exceptions.APIException:  # bad credentials, missing CSRF token: the view says so
        return None
    finally:
        for name in ("user", "auth"):
            request.__dict__.pop(name, None)
        request.__dict__.update(saved)
    if user is None or not user.is_authenticated:
        return None
    return user.pk


class IdempotencyMiddleware:
    """Applies ``Idempotency-Key`` to every DRF view under ``/api/`` (after ApiEdgeMiddleware)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        if (
            request.method not in UNSAFE_METHODS
            or _META_NAME not in request.META
            or not request.path.startswith("/api/")
        ):
            return None
        view_class = getattr(view_func, "cls", None)
        if not (isinstance(view_class, type) and issubclass(view_class, APIView)):
            return None
        key = key_parse(request.META[_META_NAME])
        if key is None:
            return key_error_response()
        user_id = _authenticated_user_id(request, view_func)
        if user_id is None:
            return None
        try:
            body = request.body
        except RequestDataTooBig:  # the parser answers with its 413
            return None
        fingerprint = Fingerprint.of(method=request.method, path=request.get_full_path(), body=body)
        return run_idempotent(
            user_id=user_id,
            key=key,
            fingerprint=fingerprint,
            call=lambda: view_func(request, *view_args, **view_kwargs),
        )
