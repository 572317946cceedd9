"""Dead-letter triage from the admin: resolve groups, replay their kept payloads through the
ingest once the cause is fixed, and create the Signal an unknown-signal dead letter asked for
(with a guess from its topic and payload)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from mes_site.errors import ValidationFailed
from production.models import Equipment, Signal
from workers.choices import IngestSource
from workers.ingest.contracts import contracts_invalidate
from workers.ingest.ledger import IngestResult
from workers.ingest.uns import ingest_uns_batch, uns_decoder
from workers.models import DeadLetter, DeadLetterPayload
from workers.mqtt.errors import DecodeError
from workers.selectors import contracts_get


def dead_letters_resolve(*, dead_letters: Iterable[DeadLetter], user) -> int:
    ids = [dead_letter.pk for dead_letter in dead_letters]
    return DeadLetter.objects.filter(pk__in=ids, is_resolved=False).update(
        is_resolved=True, resolved_at=timezone.now(), resolved_by=user
    )


@dataclass(frozen=True)
class ReplayResult:
    replayed: int
    stored: int
    dead_lettered: int


def dead_letters_replay(*, dead_letters: Iterable[DeadLetter], user) -> ReplayResult:
    """Run the kept payloads of UNS dead-letter groups through the ingest again (after the
    cause was fixed, e.g. the Signal created). Groups are marked resolved first; payloads that
    fail again land in their (reopened) groups. Replayed payloads are removed."""

    groups = [dead_letter for dead_letter in dead_letters if dead_letter.source == IngestSource.UNS]
    if not groups:
        return ReplayResult(0, 0, 0)
    contracts_get()  # refresh the cache if signals changed
    payloads = list(
        DeadLetterPayload.objects.filter(dead_letter__in=groups)
        .select_related("dead_letter")
        .order_by("id")
    )
    messages = [(payload.dead_letter.topic, bytes(payload.payload)) for payload in payloads]
    with transaction.atomic():
        dead_letters_resolve(dead_letters=groups, user=user)
        DeadLetterPayload.objects.filter(pk__in=[payload.pk for payload in payloads]).delete()
        # The replayed messages no longer count against their groups.
        for group in groups:
            kept = sum(1 for payload in payloads if payload.dead_letter_id == group.pk)
            if kept:
                DeadLetter.objects.filter(pk=group.pk).update(count=F("count") - kept)
        result = (
            ingest_uns_batch(
                batch_id=str(uuid.uuid4()), published_at=timezone.now(), messages=messages
            )
            if messages
            else IngestResult("", message_count=0)
        )
    return ReplayResult(len(messages), result.stored_count, result.dead_letter_count)


def signal_create_from_topic(
    *,
    dead_letter: DeadLetter,
    equipment: Equipment,
    name: str,
    data_type: str,
    unit: str = "",
    min_value: float | None = None,
    max_value: float | None = None,
) -> Signal:
    """Create the Signal an unknown-signal dead letter asked for (on ``equipment``)."""
    if dead_letter.source != IngestSource.UNS:
        raise ValidationFailed("Only UNS dead letters map to a signal from their topic.")
    decoder = uns_decoder(settings.MQTT_UNS_ROOT, settings.INGEST_MAX_PAYLOAD_BYTES)
    try:
        topic_path = decoder.parse_topic(dead_letter.topic).equipment_path
    except DecodeError as error:
        raise ValidationFailed(f"The topic is not a UNS topic: {error.message}") from None
    if equipment.uns_path != topic_path:
        raise ValidationFailed(
            f"The topic names the equipment path {topic_path!r}, but {equipment} is at "
            f"{equipment.uns_path!r}; readings are matched by their equipment's UNS path."
        )
    signal = Signal(
        equipment=equipment,
        name=name,
        data_type=data_type,
        unit=unit,
        min_value=min_value,
        max_value=max_value,
        description=f"Created from the dead-lettered topic {dead_letter.topic}"[:300],
    )
    signal.full_clean()
    with transaction.atomic():
        signal.save()
        transaction.on_commit(contracts_invalidate, robust=True)
    return signal


def topic_signal_guess(dead_letter: DeadLetter) -> dict[str, Any]:
    """Equipment, signal name, data type and unit suggested by a dead letter's topic and its
    latest kept payload (for the admin's mapping form)."""
    decoder = uns_decoder(settings.MQTT_UNS_ROOT, settings.INGEST_MAX_PAYLOAD_BYTES)
    guess: dict[str, Any] = {"equipment": None, "name": "", "data_type": "number", "unit": ""}
    try:
        parsed = decoder.parse_topic(dead_letter.topic)
    except DecodeError:
        return guess
    guess["equipment"] = Equipment.objects.filter(uns_path=parsed.equipment_path).first()
    guess["equipment_path"] = parsed.equipment_path
    if parsed.signal:
        guess["name"] = parsed.signal
    payload = dead_letter.payloads.order_by("-id").first()
    if payload is not None:
        try:
            decoded = decoder.decode(dead_letter.topic, bytes(payload.payload))
        except DecodeError:
            return guess
        if isinstance(decoded, tuple) and decoded:
            candidates = [
                reading
                for reading in decoded
                if not guess["name"] or reading.signal == guess["name"]
            ] or list(decoded)
            reading = candidates[0]
            guess["name"] = reading.signal
            guess["unit"] = reading.unit or ""
            value = reading.value
            guess["data_type"] = (
                "boolean" if type(value) is bool else "string" if type(value) is str else "number"
            )
    return guess
