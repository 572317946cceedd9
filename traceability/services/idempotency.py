"""Idempotency keys of the API (``mes_site.idempotency`` is the HTTP side): claim a key in its
own transaction before the view runs, complete it with the response after, release it when the
request failed, and purge expired keys."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from mes_site.idempotency import Claim, ClaimOutcome, Fingerprint, StoredResponse
from traceability.choices import IdempotencyKeyState
from traceability.models import IdempotencyKey

# A row found expired or released between our insert and our read is claimed again, once more.
_CLAIM_ATTEMPTS = 3


def _outcome_of(record: IdempotencyKey, fingerprint: Fingerprint) -> Claim:
    if (record.method, record.path, record.body_sha256) != (
        fingerprint.method,
        fingerprint.path,
        fingerprint.body_sha256,
    ):
        return Claim(ClaimOutcome.MISMATCH)
    if record.state == IdempotencyKeyState.IN_FLIGHT:
        return Claim(ClaimOutcome.IN_FLIGHT)
    stored = StoredResponse(
        status_code=record.response_status,
        body=record.response_body,
        headers=dict(record.response_headers),
    )
    return Claim(ClaimOutcome.REPLAY, stored=stored)


def idempotency_key_claim(
    *, user_id: int, key: str, fingerprint: Fingerprint, now: datetime | None = None
) -> Claim:
    """Claim ``key`` for this request, or say why not (replay, in flight, another request).

    The insert commits before the view runs (its own transaction, or a savepoint inside a
    test's), so a concurrent request with the same key waits on the unique index and then
    finds the row: no check-then-create.
    """
    now = now or timezone.now()
    expires_at = now + timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL_S)
    for _attempt in range(_CLAIM_ATTEMPTS):
        try:
            with transaction.atomic():
                record = IdempotencyKey.objects.create(
                    user_id=user_id,
                    key=key,
                    method=fingerprint.method,
                    path=fingerprint.path,
                    body_sha256=fingerprint.body_sha256,
                    state=IdempotencyKeyState.IN_FLIGHT,
                    created_at=now,
                    expires_at=expires_at,
                )
            return Claim(ClaimOutcome.CLAIMED, record_id=record.pk)
        except IntegrityError:
            existing = IdempotencyKey.objects.filter(user_id=user_id, key=key).first()
            if existing is None:  # released meanwhile: try again
                continue
            if existing.expires_at <= now:
                IdempotencyKey.objects.filter(pk=existing.pk, expires_at__lte=now).delete()
                continue
            return _outcome_of(existing, fingerprint)
    return Claim(ClaimOutcome.IN_FLIGHT)


def idempotency_key_complete(*, record_id: int, stored: StoredResponse) -> None:
    """Store the response of the request that claimed the key; from now on it is replayed."""
    IdempotencyKey.objects.filter(pk=record_id, state=IdempotencyKeyState.IN_FLIGHT).update(
        state=IdempotencyKeyState.COMPLETED,
        response_status=stored.status_code,
        response_body=stored.body,
        response_headers=stored.headers,
        completed_at=timezone.now(),
    )


def idempotency_key_release(*, record_id: int) -> None:
    """Forget a key whose request failed (5xx, exception): the client may send it again."""
    IdempotencyKey.objects.filter(pk=record_id, state=IdempotencyKeyState.IN_FLIGHT).delete()


def idempotency_keys_purge_expired(*, now: datetime | None = None) -> int:
    """Delete the keys past their expiry; returns how many."""
    deleted, _by_model = IdempotencyKey.objects.filter(
        expires_at__lte=now or timezone.now()
    ).delete()
    return deleted


class IdempotencyKeyStore:
    """The store ``mes_site.idempotency`` calls (registered in ``TraceabilityConfig.ready``)."""

    def claim(self, *, user_id: int, key: str, fingerprint: Fingerprint) -> Claim:
        return idempotency_key_claim(user_id=user_id, key=key, fingerprint=fingerprint)

    def complete(self, *, record_id: int, stored: StoredResponse) -> None:
        idempotency_key_complete(record_id=record_id, stored=stored)

    def release(self, *, record_id: int) -> None:
        idempotency_key_release(record_id=record_id)
