"""What the telemetry ingest tells the apps above it, without importing them.

The receivers register in their app's ``AppConfig.ready`` (``mes_site.hooks``).
"""

from mes_site.hooks import Hook

vibration_features_stored = Hook(
    "vibration_features_stored",
    "equipment_id: int — vibration features of this equipment were stored (after commit)",
)

station_events_received = Hook(
    "station_events_received",
    "events: list[EquipmentEventIn] of kind 'station' → an ingest result with ``accepted`` and"
    " ``rejected`` [(position, code, message)]; called inside the ingest's transaction",
)
