"""Non-conformance → containment (holds through the guardrails) → signed disposition →
CAPA (root cause, actions with owners and due dates, effectiveness check)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from quality.models import Capa, NonConformance, QualityHold
from traceability.models import AuditEvent, ElectronicSignature, Lot

pytestmark = pytest.mark.django_db


@pytest.fixture
def quality_user(make_user):
    user = make_user("quality")
    user.first_name, user.last_name = "Quinn", "Quality"
    user.save()
    return user


@pytest.fixture
def client(quality_user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(quality_user)
    return client


@pytest.fixture
def contained(client, plant, made_lot, autonomy):
    """An NCR of two lots of L1, contained: both lots on hold (supervised mode)."""
    autonomy("supervised")
    lots = [made_lot("LOT-1"), made_lot("LOT-2")]
    opened = client.post(
        "/api/quality/ncrs/",
        {
            "title": "Bore oversize",
            "site": plant.site.pk,
            "equipment": plant.equipment.pk,
            "quantity": "12",
            "lots": [lot.pk for lot in lots],
            "evidence": ["inspection-result:1", "https://edge.example/img/1.png"],
        },
        format="json",
    )
    assert opened.status_code == 201, opened.json()
    ncr = opened.json()
    assert (ncr["status"], ncr["line"]) == ("open", plant.line.pk)
    answer = client.post(f"/api/quality/ncrs/{ncr['id']}/contain/", {}, format="json")
    assert answer.status_code == 200, answer.json()
    return answer.json(), lots


def test_containment_holds_every_lot_through_the_guardrails(contained):
    ncr, lots = contained
    assert ncr["status"] == "contained"
    assert [Lot.objects.get(pk=lot.pk).status for lot in lots] == ["on_hold", "on_hold"]
    holds = QualityHold.objects.order_by("lot__code")
    assert [(hold.source, hold.status, hold.non_conformance_id) for hold in holds] == [
        ("non_conformance", "active", ncr["id"]),
        ("non_conformance", "active", ncr["id"]),
    ]
    assert {hold.proposed_action.kind for hold in holds} == {"lot_hold"}


def test_a_signed_scrap_disposition_scraps_the_held_lots(contained, client, quality_user):
    ncr, lots = contained
    answer = client.post(
        f"/api/quality/ncrs/{ncr['id']}/disposition/",
        {
            "decision": "scrap",
            "reason": "Bores cannot be recovered",
            "password": "secret-pass-1",
            "meaning": "approval",
        },
        format="json",
    )
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert body["status"] == "dispositioned"
    assert {key: body["disposition"][key] for key in ("decision", "signed_by", "meaning")} == {
        "decision": "scrap",
        "signed_by": "Quinn Quality",
        "meaning": "approval",
    }
    assert [Lot.objects.get(pk=lot.pk).status for lot in lots] == ["scrapped", "scrapped"]
    assert set(QualityHold.objects.values_list("status", flat=True)) == {"dispositioned"}
    signature = ElectronicSignature.objects.get()
    assert (signature.signer, signature.reason, signature.object_id) == (
        quality_user,
        "Bores cannot be recovered",
        str(ncr["id"]),
    )
    assert AuditEvent.objects.filter(action="sign", object_id=str(ncr["id"])).count() == 1


def test_a_wrong_password_is_refused_audited_and_changes_nothing(contained, client, quality_user):
    ncr, lots = contained
    answer = client.post(
        f"/api/quality/ncrs/{ncr['id']}/disposition/",
        {"decision": "use_as_is", "reason": "within concession", "password": "wrong"},
        format="json",
    )
    assert (answer.status_code, answer.json()["code"]) == (403, "signature_invalid")
    assert NonConformance.objects.get(pk=ncr["id"]).status == "contained"
    assert [Lot.objects.get(pk=lot.pk).status for lot in lots] == ["on_hold", "on_hold"]
    assert ElectronicSignature.objects.count() == 0
    assert AuditEvent.objects.filter(action="signature failed", actor=quality_user).count() == 1


def test_use_as_is_releases_and_return_to_supplier_ships_back(client, plant, made_lot, autonomy):
    autonomy("supervised")
    for decision, final in (("use_as_is", "available"), ("return_to_supplier", "shipped")):
        lot = made_lot(f"LOT-{decision}")
        ncr = client.post(
            "/api/quality/ncrs/",
            {"title": decision, "site": plant.site.pk, "quantity": "1", "lots": [lot.pk]},
            format="json",
        ).json()
        client.post(f"/api/quality/ncrs/{ncr['id']}/contain/", {}, format="json")
        assert Lot.objects.get(pk=lot.pk).status == "on_hold"
        answer = client.post(
            f"/api/quality/ncrs/{ncr['id']}/disposition/",
            {"decision": decision, "reason": "MRB decision", "password": "secret-pass-1"},
            format="json",
        )
        assert answer.status_code == 200, answer.json()
        assert Lot.objects.get(pk=lot.pk).status == final


def test_an_operator_cannot_sign_a_disposition(contained, api_for):
    ncr, _lots = contained
    operator = api_for("operator")
    answer = operator.post(
        f"/api/quality/ncrs/{ncr['id']}/disposition/",
        {"decision": "use_as_is", "reason": "x", "password": "secret-pass-1"},
        format="json",
    )
    assert answer.status_code == 403
    assert NonConformance.objects.get(pk=ncr["id"]).status == "contained"


def test_capa_from_five_whys_to_an_effective_close(contained, client, quality_user):
    ncr, _lots = contained
    client.post(
        f"/api/quality/ncrs/{ncr['id']}/disposition/",
        {"decision": "rework", "reason": "re-bore", "password": "secret-pass-1"},
        format="json",
    )
    capa = client.post(
        "/api/quality/capas/", {"non_conformance": ncr["id"], "method": "five_whys"}, format="json"
    )
    assert capa.status_code == 201, capa.json()
    capa_id = capa.json()["id"]
    early = client.post(
        f"/api/quality/capas/{capa_id}/actions/",
        {"kind": "corrective", "description": "x", "owner": quality_user.pk,
         "due_at": (timezone.now() + timedelta(days=7)).isoformat()},
        format="json",
    )  # fmt: skip
    assert early.status_code == 409  # no root cause yet
    root = client.post(
        f"/api/quality/capas/{capa_id}/root-cause/",
        {
            "root_cause": "Spindle bearing worn",
            "whys": ["bore oversize", "spindle runout", "bearing worn", "PM interval too long"],
        },
        format="json",
    )
    assert root.status_code == 200, root.json()
    due = timezone.now() + timedelta(days=7)
    added = client.post(
        f"/api/quality/capas/{capa_id}/actions/",
        {"kind": "corrective", "description": "Replace bearing", "owner": quality_user.pk,
         "due_at": due.isoformat()},
        format="json",
    )  # fmt: skip
    assert added.status_code == 200
    action = added.json()["actions"][0]
    assert (action["owner_name"], action["done_at"]) == (quality_user.username, None)
    closed_too_early = client.post(f"/api/quality/ncrs/{ncr['id']}/close/", {}, format="json")
    assert closed_too_early.status_code == 409
    done = client.post(
        f"/api/quality/capas/{capa_id}/complete-action/", {"action": action["id"]}, format="json"
    )
    assert done.json()["status"] == "verifying"
    bad = client.post(
        f"/api/quality/capas/{capa_id}/effectiveness/", {"is_effective": True}, format="json"
    )
    assert bad.status_code == 400 and "note" in bad.json()["detail"]
    effective = client.post(
        f"/api/quality/capas/{capa_id}/effectiveness/",
        {"is_effective": True, "note": "No oversize bores in 500 parts"},
        format="json",
    )
    assert effective.json()["status"] == "closed"
    closed = client.post(f"/api/quality/ncrs/{ncr['id']}/close/", {}, format="json")
    assert (closed.status_code, closed.json()["status"]) == (200, "closed")
    assert Capa.objects.get().is_effective is True


def test_an_eight_d_capa_refuses_unknown_steps(contained, client):
    ncr, _lots = contained
    capa_id = client.post(
        "/api/quality/capas/", {"non_conformance": ncr["id"], "method": "eight_d"}, format="json"
    ).json()["id"]
    bad = client.post(
        f"/api/quality/capas/{capa_id}/root-cause/",
        {"root_cause": "x", "eight_d": {"D9": "no such step"}},
        format="json",
    )
    assert bad.status_code == 400 and "eight_d" in bad.json()["detail"]
    good = client.post(
        f"/api/quality/capas/{capa_id}/root-cause/",
        {"root_cause": "worn bearing", "eight_d": {"D1": "team", "D4": "worn bearing"}},
        format="json",
    )
    assert good.json()["eight_d"] == {"D1": "team", "D4": "worn bearing"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"quantity": "-1"}, "quantity"),
        ({"quantity": "1", "site": 999999}, "site"),
        ({"quantity": "1", "lots": [999999]}, "lots"),
        ({"quantity": "1", "disposition": "x", "title": ""}, "title"),
    ],
)
def test_bad_ncrs_are_400_with_the_field(client, plant, body, field):
    answer = client.post(
        "/api/quality/ncrs/", {"title": "t", "site": plant.site.pk, **body}, format="json"
    )
    assert answer.status_code == 400, answer.content
    assert field in str(answer.json()["detail"])
    assert NonConformance.objects.count() == 0


def test_bad_dispositions_are_400_with_the_field(contained, client):
    ncr, _lots = contained
    for body, field in (
        ({"decision": "burn", "reason": "x", "password": "p"}, "decision"),
        ({"decision": "scrap", "password": "p"}, "reason"),
        ({"decision": "scrap", "reason": "x"}, "password"),
    ):
        answer = client.post(f"/api/quality/ncrs/{ncr['id']}/disposition/", body, format="json")
        assert answer.status_code == 400, answer.content
        assert field in str(answer.json()["detail"])
