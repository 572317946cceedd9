"""Invalidate the ingest's signal-contract cache when what it caches changes.

Cache invalidation is the only thing done here (house rule: no business logic in signals).
Changes made with ``QuerySet.update()`` bypass these receivers; the cache also expires after
``INGEST_SIGNAL_CACHE_TTL_S``."""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models.signals import post_delete, post_save

from production.models import Equipment, Signal
from workers.ingest.contracts import contracts_invalidate
from workers.models import SparkplugDeviceMapping, SparkplugNodeMapping

logger = logging.getLogger(__name__)


def _invalidate_after_commit(**_kwargs) -> None:
    def invalidate() -> None:
        try:
            contracts_invalidate()
        except Exception:  # Redis down: the TTL still refreshes the caches
            logger.warning("could not bump the signal contract version", exc_info=True)

    transaction.on_commit(invalidate)


def connect() -> None:
    for model in (Signal, Equipment, SparkplugNodeMapping, SparkplugDeviceMapping):
        for kind, signal in (("save", post_save), ("delete", post_delete)):
            signal.connect(
                _invalidate_after_commit,
                sender=model,
                dispatch_uid=f"workers-contracts-{model._meta.label_lower}-{kind}",
            )
