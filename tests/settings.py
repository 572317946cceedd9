"""Settings of the test suite: the project's settings with a secret key of its own.

The project refuses to start without a real key while DEBUG is off, as it is in the tests.
The key goes into the environment before the settings are read, so every process a test
starts (bridge, Celery worker, ASGI server, `manage.py`) inherits it. A key set in the
environment wins. Never use this key anywhere else.
"""

import os
from urllib.parse import urlsplit, urlunsplit


def _redis_url_of_worker(url: str, worker: str) -> str:
    """The Redis URL of one pytest-xdist worker: gw0 keeps the database number of ``url``, gwN
    takes the N-th after it (modulo Redis's 16), so two workers never share a Celery queue, a
    channel group or a throttle counter."""
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    number = (base + int(worker.removeprefix("gw"))) % 16
    return urlunsplit(parts._replace(path=f"/{number}"))


# Under pytest-xdist every worker has its own test database (pytest-django adds the worker id
# to its name) and, from here, its own Redis database. It goes into the environment so that the
# processes a test starts (bridge, Celery worker, ASGI server) inherit it.
if os.environ.get("PYTEST_XDIST_WORKER", "").startswith("gw"):
    os.environ["REDIS_URL"] = _redis_url_of_worker(
        os.environ.get("REDIS_URL", "redis://localhost:6379/1"), os.environ["PYTEST_XDIST_WORKER"]
    )

os.environ.setdefault(
    "DJANGO_SECRET_KEY", "tests-only-secret-key-never-used-outside-the-test-suite-4b1f0c9e"
)

from mes_site.settings import *  # noqa: E402, F403

# pytest-django empties the database between transactional tests with TRUNCATE, which the audit
# trail's trigger refuses unless the table's owner has set `mes.audit_maintenance` in its
# session (docs/operations.md). The suite connects as the owner, so its connections set it;
# the tests of the trigger turn it off again (tests/traceability/test_audit_chain.py).
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":  # noqa: F405
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c mes.audit_maintenance=on"  # noqa: F405
