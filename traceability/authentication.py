"""DRF authentication by ``Authorization: Token <key>`` against the hashed API tokens.

The header is the one DRF's ``TokenAuthentication`` reads, so ERP clients and scripts keep
working; only the store changed (``traceability.services.api_tokens``). A presented key that
does not authenticate is a 401 with ``WWW-Authenticate: Token`` whose ``code`` says why:
``authentication_failed`` (unknown key or inactive user), ``token_expired`` or
``token_revoked``. A request with no credentials at all stays a 403 ``not_authenticated``
(docs/api.md "Errors").
"""

from __future__ import annotations

from rest_framework import exceptions, status
from rest_framework.authentication import TokenAuthentication


class TokenRefused(exceptions.APIException):
    """Not an ``AuthenticationFailed``: DRF turns those into 403 when the first
    authentication class (the session) sends no ``WWW-Authenticate``; a refused token is a
    401 whatever the order of the classes."""

    status_code = status.HTTP_401_UNAUTHORIZED
    default_code = "authentication_failed"
    auth_header = "Token"


class ApiTokenAuthentication(TokenAuthentication):
    keyword = "Token"

    def authenticate_credentials(self, key: str):
        # Imported here for a real cycle: DRF imports this class while `rest_framework.views`
        # is being loaded (APIView's class attributes), and the service imports
        # `mes_site.errors`, which imports `rest_framework.views`.
        from traceability.services.api_tokens import ApiTokenRefused, api_token_authenticate

        try:
            token = api_token_authenticate(key=key)
        except ApiTokenRefused as refused:
            raise TokenRefused(refused.message, code=refused.code) from None
        return token.user, token
