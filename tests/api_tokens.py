"""The one way the tests create an API token."""

from __future__ import annotations

from traceability.services.api_tokens import api_token_create


def make_api_token(user, *, name: str = "test token", ttl_days: int | None = None) -> str:
    """Create a token for ``user`` through the service, as its owner, and return the key (the
    database keeps only its hash)."""
    _, key = api_token_create(actor=user, owner=user, name=name, ttl_days=ttl_days)
    return key
