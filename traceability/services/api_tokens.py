"""API tokens: create, rotate, revoke, and check a presented key.

A key is 256 random bits (``secrets.token_urlsafe(32)``, 43 characters). The database keeps
its first 8 characters (to find the row and to show the user which token is which) and its
SHA-256 (to prove it); a stolen copy of the table opens nothing. An owner manages their own
tokens; a user with the admin role (or a superuser) manages everybody's. Every change is an
audit event in the same transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from mes_site.errors import Conflict, Forbidden, NotFound, ValidationFailed
from mes_site.roles import ROLE_ADMIN
from traceability.models import ApiToken
from traceability.services.audit import audit_event_record

PREFIX_LENGTH = 8
NAME_MAX_LENGTH = 100


@dataclass(frozen=True)
class ApiTokenRefused(Exception):
    """A presented key that does not authenticate: ``code`` says why, for the 401 body."""

    code: str
    message: str


def api_token_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_token_is_admin(user) -> bool:
    """May ``user`` manage other users' tokens (the admin role or a superuser)?"""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or user.groups.filter(name=ROLE_ADMIN).exists()


def _may_manage(actor, owner_id: int) -> bool:
    if actor is None or not actor.is_authenticated or not actor.is_active:
        return False
    return actor.pk == owner_id or api_token_is_admin(actor)


def _ttl_days(ttl_days: int | None) -> int:
    maximum = settings.API_TOKEN_MAX_TTL_DAYS
    if ttl_days is None:
        return min(settings.API_TOKEN_DEFAULT_TTL_DAYS, maximum)
    if isinstance(ttl_days, bool) or not isinstance(ttl_days, int) or not 1 <= ttl_days <= maximum:
        raise ValidationFailed(f"A token lives 1 to {maximum} days.", detail={"ttl_days": ttl_days})
    return ttl_days


def _issue(*, owner_id: int, name: str, created_by, lifetime: timedelta) -> tuple[ApiToken, str]:
    now = timezone.now()
    key = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user_id=owner_id,
        name=name,
        prefix=key[:PREFIX_LENGTH],
        key_hash=api_token_hash(key),
        created_at=now,
        created_by=created_by,
        expires_at=now + lifetime,
    )
    return token, key


def api_token_create(
    *, actor, owner, name: str, ttl_days: int | None = None
) -> tuple[ApiToken, str]:
    """A new token for ``owner``; returns it and its key (shown once, never stored)."""
    if not _may_manage(actor, owner.pk):
        raise Forbidden("You may create API tokens for yourself only.")
    name = (name or "").strip()
    if not name or len(name) > NAME_MAX_LENGTH:
        raise ValidationFailed(
            f"Give the token a name of 1 to {NAME_MAX_LENGTH} characters (what it is for).",
            detail={"name": name[:NAME_MAX_LENGTH]},
        )
    lifetime = timedelta(days=_ttl_days(ttl_days))
    with transaction.atomic():
        token, key = _issue(owner_id=owner.pk, name=name, created_by=actor, lifetime=lifetime)
        audit_event_record(
            actor=actor,
            obj=token,
            action="api_token_create",
            new_value=token.expires_at.isoformat(),
            data={"owner": owner.get_username(), "name": name, "prefix": token.prefix},
        )
    return token, key


def _locked(*, actor, token_id: int) -> ApiToken:
    token = ApiToken.objects.select_for_update().filter(pk=token_id).first()
    if token is None or not _may_manage(actor, token.user_id):
        raise NotFound("No such API token.")  # another user's token does not exist for you
    return token


def _forbidden_unless_allowed(*, actor, token_id: int) -> None:
    """Owner or admin, checked before the lock: a stranger is told 403, not 404, by the
    service (pages turn both into 404)."""
    owner_id = ApiToken.objects.filter(pk=token_id).values_list("user_id", flat=True).first()
    if owner_id is not None and not _may_manage(actor, owner_id):
        raise Forbidden("You may manage your own API tokens only.")


def api_token_revoke(*, actor, token_id: int, reason: str = "") -> ApiToken:
    """Stop a token at once. Revoking a revoked token changes nothing."""
    _forbidden_unless_allowed(actor=actor, token_id=token_id)
    with transaction.atomic():
        token = _locked(actor=actor, token_id=token_id)
        if token.revoked_at is not None:
            return token
        token.revoked_at = timezone.now()
        token.revoked_by = actor
        token.save(update_fields=["revoked_at", "revoked_by"])
        audit_event_record(
            actor=actor,
            obj=token,
            action="api_token_revoke",
            old_value="active",
            new_value="revoked",
            reason=reason,
            data={"owner_id": token.user_id, "prefix": token.prefix},
        )
    return token


def api_token_rotate(*, actor, token_id: int, grace_s: int | None = None) -> tuple[ApiToken, str]:
    """A new token with the same name and lifetime; the old one keeps working for the grace
    period (``API_TOKEN_ROTATION_GRACE_S``) so that the client can switch, then expires."""
    _forbidden_unless_allowed(actor=actor, token_id=token_id)
    grace = timedelta(seconds=settings.API_TOKEN_ROTATION_GRACE_S if grace_s is None else grace_s)
    with transaction.atomic():
        old = _locked(actor=actor, token_id=token_id)
        now = timezone.now()
        if old.replaced_by_id is not None:
            raise Conflict("This token was already replaced; rotate its replacement.")
        if not old.is_active_at(now):
            raise Conflict("Only an active token can be rotated; create a new one instead.")
        lifetime = max(old.expires_at - old.created_at, timedelta(days=1))
        maximum = timedelta(days=settings.API_TOKEN_MAX_TTL_DAYS)
        new, key = _issue(
            owner_id=old.user_id,
            name=old.name,
            created_by=actor,
            lifetime=min(lifetime, maximum),
        )
        previous_expiry = old.expires_at
        old.expires_at = min(old.expires_at, now + grace)
        old.replaced_by = new
        old.save(update_fields=["expires_at", "replaced_by"])
        audit_event_record(
            actor=actor,
            obj=old,
            action="api_token_rotate",
            old_value=previous_expiry.isoformat(),
            new_value=old.expires_at.isoformat(),
            data={"owner_id": old.user_id, "prefix": old.prefix, "new_prefix": new.prefix},
        )
        audit_event_record(
            actor=actor,
            obj=new,
            action="api_token_create",
            new_value=new.expires_at.isoformat(),
            data={"owner_id": new.user_id, "name": new.name, "rotated_from": old.prefix},
        )
    return new, key


def api_token_authenticate(*, key: str) -> ApiToken:
    """The active token of ``key`` (with its user), or ApiTokenRefused saying why not.

    Notes when the token was last used, at most once per ``API_TOKEN_LAST_USED_RESOLUTION_S``
    so that a busy integration does not write on every request.
    """
    digest = api_token_hash(key)
    match = None
    for candidate in ApiToken.objects.select_related("user").filter(prefix=key[:PREFIX_LENGTH]):
        if hmac.compare_digest(candidate.key_hash, digest):
            match = candidate
    if match is None or not match.user.is_active:
        raise ApiTokenRefused("authentication_failed", "Invalid token.")
    now = timezone.now()
    if match.revoked_at is not None:
        raise ApiTokenRefused("token_revoked", "This API token was revoked; create a new one.")
    if now >= match.expires_at:
        raise ApiTokenRefused("token_expired", "This API token has expired; create a new one.")
    stale_before = now - timedelta(seconds=settings.API_TOKEN_LAST_USED_RESOLUTION_S)
    if match.last_used_at is None or match.last_used_at < stale_before:
        ApiToken.objects.filter(pk=match.pk).update(last_used_at=now)
        match.last_used_at = now
    return match
