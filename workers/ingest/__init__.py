"""The telemetry ingest (writes of the workers app): one batch (UNS or Sparkplug) is one call and
one transaction: decode (pure codecs), validate each reading against its Signal's contract,
store the valid readings in bulk (idempotent), route equipment events to the production
services, record every rejected message as a dead letter, and write the batch to the ledger (a
redelivered batch is skipped whole). Current values, alerts and health refreshes are handed on
after the commit, never inline.

``uns`` and ``sparkplug`` ingest the batches; ``contracts`` holds the checks, ``dead_letters``
the rejects, ``ledger`` the batch ledger, ``events`` the equipment events, ``followups`` the
after-commit work, and ``triage`` the admin's dead-letter operations.
"""
