"""GS1 scans: a GS1-128 or GS1 DataMatrix element string, parsed by ``biip``, resolved to the
lot or serial unit it names.

Accepted: the raw symbol content (FNC1 as the ASCII group separator, optionally with the
symbology identifier ``]C1`` / ``]d2`` / ``]Q3``) and the human-readable form with the AIs in
parentheses, ``(01)07032069804988(10)L-42(21)SN-7``. Used: AI 01 (GTIN), 10 (batch/lot),
17 (expiry), 21 (serial). Anything else in the symbol is kept but not needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from biip import ParseError
from biip.gs1_messages import GS1Message

from mes_site.errors import NotFound, ValidationFailed
from traceability.models import Lot, SerialUnit

SYMBOLOGY_IDENTIFIERS = ("]C1", "]d2", "]Q3", "]e0")
EXPECTED = (
    "a GS1 element string such as (01)<14-digit GTIN>(10)<lot> or (01)<GTIN>(21)<serial>, "
    "or the raw symbol with FNC1 separators"
)


@dataclass(frozen=True)
class Gs1Scan:
    gtin: str | None
    batch: str | None
    serial: str | None
    expires_on: date | None


def gs1_scan_parse(text: str, *, field: str = "scan") -> Gs1Scan:
    """The GTIN, batch, serial and expiry of a scan; a 400 naming what was expected when the
    text is no valid GS1 string (bad AI, bad length, bad GTIN check digit) or names neither a
    batch (AI 10) nor a serial (AI 21)."""
    value = (text or "").strip()
    for prefix in SYMBOLOGY_IDENTIFIERS:
        if value.startswith(prefix):
            value = value[len(prefix) :]
    if not value:
        raise ValidationFailed("The scan is empty.", code="invalid_gs1", detail={field: EXPECTED})
    try:
        message = GS1Message.parse_hri(value) if value.startswith("(") else GS1Message.parse(value)
    except ParseError as error:
        raise ValidationFailed(
            f"Not a valid GS1 string: {error}",
            code="invalid_gs1",
            detail={field: EXPECTED, "scanned": text},
        ) from None
    found = {element.ai.ai: element for element in message.element_strings}
    gtin = found.get("01")
    if gtin is not None and gtin.gtin_error:
        raise ValidationFailed(
            f"Not a valid GS1 string: {gtin.gtin_error}",
            code="invalid_gs1",
            detail={field: EXPECTED, "scanned": text},
        )
    batch, serial, expiry = found.get("10"), found.get("21"), found.get("17")
    if batch is None and serial is None:
        raise ValidationFailed(
            "The scan names neither a lot (AI 10) nor a serial number (AI 21).",
            code="invalid_gs1",
            detail={field: EXPECTED, "scanned": text},
        )
    return Gs1Scan(
        gtin=gtin.value if gtin is not None else None,
        batch=batch.value if batch is not None else None,
        serial=serial.value if serial is not None else None,
        expires_on=expiry.date if expiry is not None else None,
    )


def _check_gtin(scan: Gs1Scan, item, field: str) -> None:
    if scan.gtin and item.gtin and scan.gtin != item.gtin:
        raise ValidationFailed(
            f"The scanned GTIN {scan.gtin} is not {item.code}'s ({item.gtin}).",
            code="wrong_item",
            detail={field: scan.gtin, "expected_gtin": item.gtin},
        )


def scan_resolve(scan: Gs1Scan, *, field: str = "scan") -> Lot | SerialUnit:
    """The serial unit (AI 21) or lot (AI 10: our lot code, or the supplier's batch of the
    item with the scanned GTIN) a scan names; a 404 when there is none, a 400 when several."""
    if scan.serial is not None:
        unit = SerialUnit.objects.select_related("lot__item").filter(serial=scan.serial).first()
        if unit is None:
            raise NotFound(
                f"No serial unit {scan.serial}.", code="unknown_code", detail={field: scan.serial}
            )
        _check_gtin(scan, unit.lot.item, field)
        return unit
    lot = Lot.objects.select_related("item").filter(code=scan.batch).first()
    if lot is None and scan.gtin:
        candidates = list(
            Lot.objects.select_related("item").filter(
                supplier_lot_code=scan.batch, item__gtin=scan.gtin
            )[:2]
        )
        if len(candidates) > 1:
            raise ValidationFailed(
                f"Supplier batch {scan.batch} of GTIN {scan.gtin} is in several lots; scan our "
                "lot label instead.",
                code="ambiguous_code",
                detail={field: scan.batch},
            )
        lot = candidates[0] if candidates else None
    if lot is None:
        raise NotFound(f"No lot {scan.batch}.", code="unknown_code", detail={field: scan.batch})
    _check_gtin(scan, lot.item, field)
    return lot
