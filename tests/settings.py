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
