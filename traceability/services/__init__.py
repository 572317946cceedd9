"""Writes of traceability: the audit base with electronic signatures (``audit``) and lots with
their genealogy (``lots``, ``genealogy``: consumption into lots and serial units)."""

from traceability.services.audit import (
    audit_event_record,
    electronic_signature_record,
    signature_failure_record,
    state_transition,
)
from traceability.services.genealogy import Consumed, genealogy_node_for, material_consume
from traceability.services.lots import Consumption, lot_consume, lot_create, lot_set_status

__all__ = [
    "Consumed",
    "Consumption",
    "audit_event_record",
    "electronic_signature_record",
    "genealogy_node_for",
    "lot_consume",
    "lot_create",
    "lot_set_status",
    "material_consume",
    "signature_failure_record",
    "state_transition",
]
