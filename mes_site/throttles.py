"""Request rates of the API (``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``, from the
environment): ``anon`` and ``user`` for every endpoint, and the stricter ``auth`` for the
endpoints that check a password or hand out credentials. Over the rate the API answers 429
``throttled`` with ``Retry-After``."""

from __future__ import annotations

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle


class AuthenticationRateThrottle(SimpleRateThrottle):
    """Per user (per address when anonymous), on top of the default throttles."""

    scope = "auth"

    def get_cache_key(self, request, view):
        if request.user and request.user.is_authenticated:
            ident = request.user.pk
        else:
            ident = self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


def authentication_throttles() -> list:
    """The throttle classes of an auth-sensitive action: the defaults plus ``auth``."""
    return [*api_settings.DEFAULT_THROTTLE_CLASSES, AuthenticationRateThrottle]
