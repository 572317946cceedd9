"""Non-conformance workflow: open → contain (holds through the guardrails) → disposition
(signed with the re-entered password) → close; CAPA with root cause, actions, effectiveness.

The disposition closes the quality holds of the NCR's lots and then moves each held lot
through traceability's status service: use as is and rework release it, scrap scraps it,
return to supplier releases it and ships it back. Nothing else releases a quality hold.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from mes_site.errors import Forbidden, InvalidTransition, ValidationFailed
from mes_site.lockout import signature_password_confirms
from quality.choices import (
    CapaStatus,
    DispositionDecision,
    HoldSource,
    NonConformanceStatus,
    RootCauseMethod,
)
from quality.models import Capa, CapaAction, Disposition, NonConformance
from quality.services.holds import hold_propose, holds_close
from traceability.choices import LotStatus
from traceability.models import Lot
from traceability.services.audit import (
    SignatureMeaning,
    audit_event_record,
    electronic_signature_record,
    signature_failure_record,
    signature_meaning_check,
    state_transition,
)
from traceability.services.lots import lot_set_status

DISPOSITION_PERMISSION = "quality.add_disposition"
EIGHT_D_STEPS = ("D1", "D2", "D3", "D4", "D5", "D6", "D7", "D8")
# where each decision leaves a held lot: the statuses it passes through, in order
_LOT_PATH = {
    DispositionDecision.USE_AS_IS: (LotStatus.AVAILABLE,),
    DispositionDecision.REWORK: (LotStatus.AVAILABLE,),
    DispositionDecision.SCRAP: (LotStatus.SCRAPPED,),
    DispositionDecision.RETURN_TO_SUPPLIER: (LotStatus.AVAILABLE, LotStatus.SHIPPED),
}


def _ncr_number() -> str:
    today = timezone.now().strftime("%Y%m%d")
    count = NonConformance.objects.filter(number__startswith=f"NCR-{today}-").count()
    return f"NCR-{today}-{count + 1:03d}"


@transaction.atomic
def ncr_open(
    *,
    site,
    title: str,
    quantity: Decimal,
    description: str = "",
    line=None,
    equipment=None,
    product=None,
    lots=(),
    serial_units=(),
    evidence: list | None = None,
    actor=None,
) -> NonConformance:
    if quantity < 0:
        raise ValidationFailed("The quantity cannot be negative.", detail={"quantity": quantity})
    if line is not None and line.area.site_id != site.pk:
        raise ValidationFailed("The line is not on the NCR's site.", detail={"line": line.pk})
    if equipment is not None:
        if equipment.cell.line.area.site_id != site.pk:
            raise ValidationFailed(
                "The equipment is not on the NCR's site.", detail={"equipment": equipment.pk}
            )
        line = line or equipment.cell.line
    lots = list(lots)
    lots += [unit.lot for unit in serial_units if unit.lot not in lots]
    for attempt in range(3):
        try:
            with transaction.atomic():
                ncr = NonConformance.objects.create(
                    number=_ncr_number(),
                    title=title,
                    description=description,
                    site=site,
                    line=line,
                    equipment=equipment,
                    product=product,
                    quantity=quantity,
                    evidence=evidence or [],
                    created_by=actor if actor is not None and actor.is_authenticated else None,
                )
            break
        except IntegrityError:  # a concurrent NCR took the number: count again
            if attempt == 2:
                raise
    ncr.lots.set(lots)
    ncr.serial_units.set(serial_units)
    audit_event_record(actor=actor, obj=ncr, action="open", new_value=ncr.status, reason=title)
    return ncr


@transaction.atomic
def ncr_contain(*, ncr_id: int, actor, reason: str = "") -> NonConformance:
    """Propose a hold of every lot of the NCR (through the guardrails) and mark it contained."""
    ncr = state_transition(
        model=NonConformance,
        pk=ncr_id,
        allowed_from={NonConformanceStatus.OPEN},
        to_state=NonConformanceStatus.CONTAINED,
        actor=actor,
        action="contain",
        reason=reason,
        field="status",
    )
    lots = list(ncr.lots.all())
    if not lots:
        raise ValidationFailed("Name the NCR's lots before containing it.", detail={"lots": []})
    for lot in lots:
        if lot.status in (LotStatus.AVAILABLE, LotStatus.ON_HOLD):
            hold_propose(
                lot=lot,
                source=HoldSource.NON_CONFORMANCE,
                reason=f"containment of {ncr.number}: {ncr.title}",
                equipment=ncr.equipment,
                site=ncr.site,
                explanation_data={"non_conformance": ncr.number},
                actor=actor,
                non_conformance=ncr,
            )
    return ncr


def ncr_disposition_sign(
    *,
    ncr_id: int,
    user,
    password: str,
    decision: str,
    reason: str,
    meaning: str = SignatureMeaning.APPROVAL,
    request=None,
) -> Disposition:
    """Decide the disposition with an electronic signature (the user's password, checked
    through ``authenticate(request=…)`` so failures count towards the lockout; a refused
    signature is audited and kept). Then close the lots' holds and move each held lot."""
    if user is None or not user.is_authenticated or not user.has_perm(DISPOSITION_PERMISSION):
        raise Forbidden("Only quality engineers sign dispositions.")
    if decision not in DispositionDecision.values:
        raise ValidationFailed(
            f"Unknown disposition {decision!r}.", detail={"decision": list(DispositionDecision)}
        )
    if not reason.strip():
        raise ValidationFailed("A disposition states its reason.", detail={"reason": ""})
    signature_meaning_check(meaning)
    if not signature_password_confirms(user=user, password=password, request=request):
        signature_failure_record(
            user=user,
            subject=f"the disposition of non-conformance {ncr_id}",
            data={"non_conformance_id": ncr_id, "meaning": meaning},
        )
        raise Forbidden(
            "The signature was refused: the password is not correct.", code="signature_invalid"
        )
    return _disposition_signed(
        ncr_id=ncr_id, user=user, decision=decision, reason=reason, meaning=meaning
    )


@transaction.atomic
def _disposition_signed(
    *, ncr_id: int, user, decision: str, reason: str, meaning: str
) -> Disposition:
    ncr = state_transition(
        model=NonConformance,
        pk=ncr_id,
        allowed_from={NonConformanceStatus.OPEN, NonConformanceStatus.CONTAINED},
        to_state=NonConformanceStatus.DISPOSITIONED,
        actor=user,
        action=f"disposition {decision}",
        reason=reason,
        field="status",
    )
    signature = electronic_signature_record(signer=user, obj=ncr, meaning=meaning, reason=reason)
    moved = []
    for lot in Lot.objects.select_for_update().filter(pk__in=ncr.lots.values("pk")).order_by("pk"):
        holds_close(lot_id=lot.pk, actor=user)
        if lot.status != LotStatus.ON_HOLD:
            continue
        for status in _LOT_PATH[decision]:
            lot_set_status(
                lot_id=lot.pk,
                status=status,
                actor=user,
                reason=f"{ncr.number} disposition {decision}: {reason}",
            )
        moved.append({"lot": lot.code, "status": _LOT_PATH[decision][-1]})
    return Disposition.objects.create(
        non_conformance=ncr,
        decision=decision,
        reason=reason,
        signature=signature,
        decided_by=user,
        decided_at=signature.signed_at,
        released_lots=moved,
    )


@transaction.atomic
def ncr_close(*, ncr_id: int, actor, reason: str = "") -> NonConformance:
    """Close a dispositioned NCR; its CAPAs must be closed (effective) first."""
    if Capa.objects.filter(non_conformance_id=ncr_id).exclude(status=CapaStatus.CLOSED).exists():
        raise InvalidTransition("A CAPA of this NCR is still open.", detail={"capas": "open"})
    return state_transition(
        model=NonConformance,
        pk=ncr_id,
        allowed_from={NonConformanceStatus.DISPOSITIONED},
        to_state=NonConformanceStatus.CLOSED,
        actor=actor,
        action="close",
        reason=reason,
        field="status",
        updates={"closed_at": timezone.now()},
    )


# --- CAPA ---------------------------------------------------------------------------------


@transaction.atomic
def capa_open(*, non_conformance: NonConformance, method: str, actor) -> Capa:
    if method not in RootCauseMethod.values:
        raise ValidationFailed(f"Unknown method {method!r}.", detail={"method": method})
    if non_conformance.status == NonConformanceStatus.CLOSED:
        raise InvalidTransition(f"{non_conformance.number} is closed.")
    capa = Capa.objects.create(non_conformance=non_conformance, method=method)
    audit_event_record(actor=actor, obj=capa, action="open", new_value=capa.status)
    return capa


@transaction.atomic
def capa_root_cause_set(
    *,
    capa_id: int,
    root_cause: str,
    whys: list[str] | None = None,
    eight_d: dict[str, str] | None = None,
    actor,
) -> Capa:
    capa = Capa.objects.select_for_update().get(pk=capa_id)
    if capa.status != CapaStatus.OPEN:
        raise InvalidTransition(f"{capa} is {capa.status}; its root cause is settled.")
    if not root_cause.strip():
        raise ValidationFailed("Name the root cause.", detail={"root_cause": ""})
    if capa.method == RootCauseMethod.FIVE_WHYS:
        whys = [why.strip() for why in (whys or []) if why.strip()]
        if not 1 <= len(whys) <= 7:
            raise ValidationFailed("5 whys: one to seven answers.", detail={"whys": len(whys)})
        capa.whys = whys
    else:
        unknown = set(eight_d or {}) - set(EIGHT_D_STEPS)
        if unknown or not eight_d:
            raise ValidationFailed(
                f"8D steps are {', '.join(EIGHT_D_STEPS)}.", detail={"eight_d": sorted(unknown)}
            )
        capa.eight_d = {step: eight_d[step] for step in EIGHT_D_STEPS if step in eight_d}
    capa.root_cause = root_cause
    capa.save(update_fields=["whys", "eight_d", "root_cause"])
    audit_event_record(actor=actor, obj=capa, action="root cause", reason=root_cause)
    return capa


@transaction.atomic
def capa_action_add(
    *, capa_id: int, kind: str, description: str, owner, due_at: datetime, actor
) -> CapaAction:
    capa = Capa.objects.select_for_update().get(pk=capa_id)
    if capa.status != CapaStatus.OPEN:
        raise InvalidTransition(f"{capa} is {capa.status}; add actions while it is open.")
    if not capa.root_cause:
        raise InvalidTransition("Find the root cause before planning actions.")
    action = CapaAction.objects.create(
        capa=capa, kind=kind, description=description, owner=owner, due_at=due_at
    )
    audit_event_record(
        actor=actor, obj=capa, action="add action", new_value=owner.get_username(),
        reason=description,
    )  # fmt: skip
    return action


@transaction.atomic
def capa_action_complete(
    *, capa_id: int, action_id: int, actor, effectiveness_due_at: datetime | None = None
) -> Capa:
    """Mark one action done; when all are done the CAPA waits for its effectiveness check."""
    capa = Capa.objects.select_for_update().get(pk=capa_id)
    action = CapaAction.objects.filter(capa=capa, pk=action_id).first()
    if action is None:
        raise ValidationFailed("No such action in this CAPA.", detail={"action": action_id})
    if action.done_at is None:
        action.done_at = timezone.now()
        action.save(update_fields=["done_at"])
        audit_event_record(actor=actor, obj=capa, action="action done", reason=action.description)
    if capa.status == CapaStatus.OPEN and not capa.actions.filter(done_at__isnull=True).exists():
        capa = state_transition(
            model=Capa,
            pk=capa.pk,
            allowed_from={CapaStatus.OPEN},
            to_state=CapaStatus.VERIFYING,
            actor=actor,
            action="verify",
            field="status",
            updates={"effectiveness_due_at": effectiveness_due_at or timezone.now()},
        )
    return capa


@transaction.atomic
def capa_effectiveness_record(*, capa_id: int, is_effective: bool, note: str, actor) -> Capa:
    """Effective: the CAPA closes. Not effective: back to open for a new root cause."""
    if not note.strip():
        raise ValidationFailed("Say how effectiveness was checked.", detail={"note": ""})
    to_state = CapaStatus.CLOSED if is_effective else CapaStatus.OPEN
    return state_transition(
        model=Capa,
        pk=capa_id,
        allowed_from={CapaStatus.VERIFYING},
        to_state=to_state,
        actor=actor,
        action="effectiveness check",
        reason=note,
        field="status",
        updates={
            "is_effective": is_effective,
            "effectiveness_note": note,
            "closed_at": timezone.now() if is_effective else None,
        },
    )
