"""Writes of traceability: the audit base with electronic signatures (``audit``) and lots with
their genealogy (``lots``)."""

from traceability.services.audit import (
    audit_event_record,
    electronic_signature_record,
    signature_failure_record,
    state_transition,
)
from traceability.services.lots import Consumption, lot_consume, lot_create, lot_set_status

__all__ = [
    "Consumption",
    "audit_event_record",
    "electronic_signature_record",
    "lot_consume",
    "lot_create",
    "lot_set_status",
    "signature_failure_record",
    "state_transition",
]
