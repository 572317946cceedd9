"""Settings of the test suite: the project's settings with a secret key of its own.

The project refuses to start without a real key while DEBUG is off, as it is in the tests.
The key goes into the environment before the settings are read, so every process a test
starts (bridge, Celery worker, ASGI server, `manage.py`) inherits it. A key set in the
environment wins. Never use this key anywhere else.
"""

import os

os.environ.setdefault(
    "DJANGO_SECRET_KEY", "tests-only-secret-key-never-used-outside-the-test-suite-4b1f0c9e"
)

from mes_site.settings import *  # noqa: F403

# pytest-django empties the database between transactional tests with TRUNCATE, which the audit
# trail's trigger refuses unless the table's owner has set `mes.audit_maintenance` in its
# session (docs/operations.md). The suite connects as the owner, so its connections set it;
# the tests of the trigger turn it off again (tests/traceability/test_audit_chain.py).
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":  # noqa: F405
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c mes.audit_maintenance=on"  # noqa: F405
