"""Measurements from the Unified Namespace: ``…/{station}/_measurement`` messages, decoded by
the UNS codec (workers/mqtt/uns.py) and handed over by the ingest (workers/ingest/events.py)
inside its batch transaction. Each one names a characteristic charted at that station; it is
checked (known station and characteristic, the chart's station, unit, lot or serial, attribute
counts) and appended to the chart's open subgroup (``measurements_record``): a completed
subgroup is plotted and rule-checked at once. Every reject comes back with a reason code and
message, and the ingest dead-letters it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from mes_site.errors import ValidationFailed
from production.models import Equipment
from production.services.ingest_contract import EquipmentEventIn
from quality.models import ControlChart
from quality.services.spc import MeasurementIn, measurement_validate, measurements_record
from traceability.models import Lot, SerialUnit


class MeasurementReason:
    """Dead-letter reason codes of rejected measurements."""

    UNKNOWN_EQUIPMENT = "unknown_equipment"
    UNKNOWN_CHARACTERISTIC = "unknown_characteristic"
    WRONG_STATION = "wrong_station"
    INVALID_MEASUREMENT = "invalid_measurement"  # unit, count, size: the message says which
    UNKNOWN_LOT = "unknown_lot"
    UNKNOWN_SERIAL = "unknown_serial"


@dataclass
class MeasurementsIngestResult:
    accepted: int = 0
    rejected: list[tuple[int, str, str]] = field(default_factory=list)
    completed_subgroups: int = 0


def uns_measurements_ingest(*, events: Sequence[EquipmentEventIn]) -> MeasurementsIngestResult:
    """Check and record a batch's measurements; called inside the ingest's transaction."""
    result = MeasurementsIngestResult()
    paths = {event.equipment_path for event in events}
    codes = {event.data["characteristic"] for event in events}
    stations = dict(Equipment.objects.filter(uns_path__in=paths).values_list("uns_path", "pk"))
    charts = {
        chart.characteristic.code: chart
        for chart in ControlChart.objects.filter(characteristic__code__in=codes).select_related(
            "characteristic"
        )
    }
    lots = dict(
        Lot.objects.filter(code__in={e.data.get("lot") for e in events} - {None}).values_list(
            "code", "pk"
        )
    )
    serials = {
        serial.serial: serial
        for serial in SerialUnit.objects.filter(
            serial__in={e.data.get("serial") for e in events} - {None}
        )
    }
    accepted: list[MeasurementIn] = []
    for position, event in enumerate(events):
        data = event.data

        def reject(code: str, message: str, position: int = position) -> None:
            result.rejected.append((position, code, message))

        station_id = stations.get(event.equipment_path)
        chart = charts.get(data["characteristic"])
        if station_id is None:
            reject(MeasurementReason.UNKNOWN_EQUIPMENT, f"no station at {event.equipment_path!r}")
            continue
        if chart is None:
            reject(
                MeasurementReason.UNKNOWN_CHARACTERISTIC,
                f"no control chart for characteristic {data['characteristic']!r}",
            )
            continue
        if chart.equipment_id != station_id:
            reject(
                MeasurementReason.WRONG_STATION,
                f"{chart.characteristic.code} is measured at another station",
            )
            continue
        lot_code, serial_code = data.get("lot"), data.get("serial")
        if lot_code is not None and lot_code not in lots:
            reject(MeasurementReason.UNKNOWN_LOT, f"no lot {lot_code!r}")
            continue
        if serial_code is not None and serial_code not in serials:
            reject(MeasurementReason.UNKNOWN_SERIAL, f"no serial {serial_code!r}")
            continue
        try:
            value = measurement_validate(
                chart, value=data["value"], unit=data.get("unit"), size=data.get("size")
            )
        except ValidationFailed as error:
            reject(MeasurementReason.INVALID_MEASUREMENT, error.message)
            continue
        serial_unit = serials.get(serial_code) if serial_code is not None else None
        lot_id = lots.get(lot_code) if lot_code is not None else None
        if lot_id is None and serial_unit is not None:
            lot_id = serial_unit.lot_id
        accepted.append(
            MeasurementIn(
                chart=chart,
                value=value,
                measured_at=event.ts,
                size=data.get("size"),
                lot=None if lot_id is None else Lot(pk=lot_id),
                serial_unit=serial_unit,
            )
        )
    accepted.sort(key=lambda measurement: measurement.measured_at)
    result.completed_subgroups = len(measurements_record(measurements=accepted))
    result.accepted = len(accepted)
    return result
