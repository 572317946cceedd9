"""Content-Security-Policy: django-csp's middleware plus this host's websocket origin, and the
endpoint browsers report violations to.

The policy itself is ``CONTENT_SECURITY_POLICY`` in the settings. ``connect-src 'self'`` does
not cover ``ws://``/``wss://`` in every browser, and the host a deployment is reached under
is only known per request (it passed ``ALLOWED_HOSTS`` by then), so the middleware adds
exactly the websocket origin of the page's own host and scheme.
"""

from __future__ import annotations

import json
import logging
import time

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

logger = logging.getLogger("mes_site.csp")

# A report is a few hundred bytes; anything much larger is not a browser's report.
REPORT_MAX_BYTES = 16 * 1024
REPORT_FIELDS = (
    "document-uri",
    "effective-directive",
    "violated-directive",
    "blocked-uri",
    "source-file",
    "line-number",
    "column-number",
    "disposition",
)
# The clock of the per-minute report budget (a function, so that tests can set the minute).
clock = time.time


def websocket_origin(request: HttpRequest) -> str | None:
    """``ws://host[:port]`` (``wss://`` over HTTPS) of the requested host; None if not allowed."""
    try:
        host = request.get_host()
    except DisallowedHost:
        return None
    return f"{'wss' if request.is_secure() else 'ws'}://{host}"


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        origin = websocket_origin(request)
        if origin is not None and not report_only:
            update = dict(parts.update or {})
            extra = update.get("connect-src") or []
            extra = [extra] if isinstance(extra, str) else list(extra)
            update["connect-src"] = [*extra, origin]
            parts.update = update
        return parts


def _report_admitted() -> bool:
    """True while this minute's budget of logged reports lasts (shared by every process)."""
    key = f"csp-reports:{int(clock() // 60)}"
    try:
        cache.add(key, 0, timeout=120)
        return cache.incr(key) <= settings.CSP_VIOLATION_REPORTS_PER_MINUTE
    except Exception:  # the cache is away: log nothing rather than fail or flood
        logger.debug("CSP report budget unavailable", exc_info=True)
        return False


def _violation(body: bytes) -> dict | None:
    """The report of an ``application/csp-report`` body (what ``report-uri`` makes browsers
    send), or None."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return None
    if isinstance(document, dict) and isinstance(document.get("csp-report"), dict):
        return document["csp-report"]
    return None


@csrf_exempt
@require_POST
def csp_report(request: HttpRequest) -> HttpResponse:
    """Log the violation a browser reports, within a per-minute budget; always 204."""
    body = request.body
    violation = _violation(body) if len(body) <= REPORT_MAX_BYTES else None
    if violation is not None and _report_admitted():
        fields = {name: str(violation.get(name, ""))[:300] for name in REPORT_FIELDS}
        logger.warning("CSP violation %s", json.dumps(fields, sort_keys=True))
    return HttpResponse(status=204)
