"""The Celery application: queues `ingest`, `default` and `scheduling`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mes_site.settings")

app = Celery("mes_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
