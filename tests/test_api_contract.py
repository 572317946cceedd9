"""The API against its own OpenAPI schema: schemathesis generates requests from the live
``/api/schema/`` and runs each one through the real WSGI app, as a supervisor and as an
operator (real tokens), over the demo plant.

Checked on every response: no 5xx, only documented status codes, the documented content
type, headers and body (``response_schema_conformance``), and that a request which is valid
by the schema is not refused (``positive_data_acceptance``: anything but 400/405/415/422...;
403, 404 and 409 stay acceptable answers to a valid request).

What the schema cannot say, the generation fills in, narrowly (see ``_realistic``):
references to other objects name objects the user sees, an ``Idempotency-Key`` is new for
each request, and the few rules the views apply to fields together are respected (a period
ends after it starts and, for OEE losses, spans at most 62 days; "a site or a run"; an
entered interval has ended; a report counts a unit; a failed inspection names its defect).
Strings carry no NUL character (``allow-x00``), which the API refuses by design. Nothing is
excluded from the checks.

Bounded and deterministic: ``EXAMPLES_PER_OPERATION`` requests per operation, derandomized
Hypothesis, no example database. Run alone with ``pytest -s tests/test_api_contract.py`` to
see the counts.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
import schemathesis
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from mes_site import pagination
from tests.api_tokens import make_api_token

EXAMPLES_PER_OPERATION = 3
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    positive_data_acceptance,
]
CONFIG = schemathesis.Config.from_dict(
    {
        # PostgreSQL cannot store a NUL character: the API refuses it in any string with a
        # 400 (docs/api.md "Errors"), which tests/test_api_hardening.py covers.
        "generation": {"allow-x00": False},
    }
)
# A request field or filter that names another object by id → the API list of those objects;
# its ids as the user sees them (in their plant scope) are the ones the generation uses.
REFERENCES = {
    "area": "/api/production/areas/",
    "assigned_equipment": "/api/production/equipment/",
    "calendar": "/api/production/shift-calendars/",
    "capabilities": "/api/production/capabilities/",
    "capability": "/api/production/capabilities/",
    "cell": "/api/production/cells/",
    "cell__line": "/api/production/lines/",
    "characteristic": "/api/quality/characteristics/",
    "enterprise": "/api/production/enterprises/",
    "episode": "/api/maintenance/episodes/",
    "equipment": "/api/production/equipment/",
    "from_location": "/api/inventory/locations/",
    "item": "/api/inventory/items/",
    "line": "/api/production/lines/",
    "location": "/api/inventory/locations/",
    "lot": "/api/traceability/lots/",
    "lot__item": "/api/inventory/items/",
    "maintenance_work_order": "/api/maintenance/work-orders/",
    "non_conformance": "/api/quality/ncrs/",
    "operation": "/api/production/operations/",
    "operation_template": "/api/production/operation-templates/",
    "parent": "/api/production/downtime-reasons/",
    "plan": "/api/quality/inspection-plans/",
    "preventive_plan": "/api/maintenance/plans/",
    "product": "/api/production/products/",
    "routing": "/api/production/routings/",
    "rule": "/api/production/alert-rules/",
    "run": "/api/production/schedule-runs/",
    "serial_unit": "/api/traceability/serial-units/",
    "shift": "/api/production/shifts/",
    "signal": "/api/production/signals/",
    "site": "/api/production/sites/",
    "spare_item": "/api/inventory/items/",
    "stock": "/api/inventory/stock/",
    "to_location": "/api/inventory/locations/",
    "work_order": "/api/production/work-orders/",
}
# The same by code (a string field): name → (model, its code field).
CODE_REFERENCES = {"reason_code": ("production.DowntimeReason", "code")}
# Periods the views refuse when they end before they start, or span more than 62 days
# (OEE losses): (start, end) names in a query or a body.
PERIODS = [
    ("start", "end"),
    ("since", "until"),
    ("start_at", "end_at"),
    ("window_start_at", "window_end_at"),
]
MAX_WINDOW = timedelta(days=62)


@pytest.fixture
def wsgi_app() -> Iterator:
    """The project's WSGI app, serving inside the test's transaction: like Django's test
    client, requests must not close the connection that holds the transaction."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def demo_plant(db) -> None:
    """The demo plant, plus one object of the kinds it has none of, so that their detail
    routes and the filters and fields naming them have something to find."""
    from maintenance import services as maintenance_services
    from maintenance.choices import MaintenanceKind, PlanTrigger
    from production.models import Equipment, Product
    from quality.models import Characteristic, InspectionPlan
    from workers.demo_plant import demo_plant_load

    def bore_product():
        return Product.objects.order_by("pk").first()

    demo_plant_load()
    spindle = Equipment.objects.get(code="CNC_Spindle_7")
    bore = Characteristic.objects.create(
        code="bore_d", name="Bore diameter", unit="mm", target=10.0
    )
    InspectionPlan.objects.create(
        code="IP-final", name="Final", product=bore_product(), sampling_method="every_part"
    ).characteristics.add(bore)
    maintenance_services.maintenance_work_order_create(
        equipment=spindle, kind=MaintenanceKind.CORRECTIVE, title="Bearing noise"
    )
    maintenance_services.preventive_plan_create(
        equipment=spindle, name="Spindle service", trigger=PlanTrigger.CALENDAR, interval=30.0
    )


@dataclass
class Run:
    """One role's run: what was sent and what failed."""

    headers: dict
    references: dict[str, list[int]]
    codes: dict[str, list[str]]
    calls: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    kinds: Counter = field(default_factory=Counter)


@pytest.mark.xdist_group("heavy")  # with the other tests that load the machine, never at once
@pytest.mark.parametrize("role", ["supervisor", "operator"])
def test_api_conforms_to_its_schema(role, demo_plant, wsgi_app):
    user = get_user_model().objects.get(username=role)
    headers = {"Authorization": f"Token {make_api_token(user)}"}
    schema = schemathesis.openapi.from_wsgi(
        "/api/schema/?format=json", wsgi_app, config=CONFIG, headers=headers
    )
    run = Run(
        headers=headers,
        references={
            name: _listed_ids(list_path, wsgi_app, headers)
            for name, list_path in REFERENCES.items()
        },
        codes={
            name: sorted(apps.get_model(label).objects.values_list(field_name, flat=True))
            for name, (label, field_name) in CODE_REFERENCES.items()
        },
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    assert all(isinstance(result, Ok) for result in schema.get_all_operations())
    assert len(operations) > 200
    for operation in operations:
        _fuzz(operation, run, _object_ids(operation, wsgi_app, headers))

    print(
        f"\n{role}: {sum(run.calls.values())} requests to {len(run.calls)} operations; "
        f"statuses {dict(sorted(run.statuses.items()))}; failures {dict(run.kinds)}"
    )
    assert len(run.calls) == len(operations)
    assert run.statuses["2xx"] > 0
    assert not run.failures, "\n".join(sorted(set(run.failures)))


def _object_ids(operation, wsgi_app, headers) -> list[int]:
    """Ids of the objects the user sees in the list an ``{id}`` operation belongs to."""
    if "{id}" not in operation.path:
        return []
    return _listed_ids(operation.path.split("{id}")[0], wsgi_app, headers)


def _listed_ids(list_path: str, wsgi_app, headers) -> list[int]:
    client = schemathesis.python.wsgi.get_client(wsgi_app)
    response = client.get(list_path, query_string={"limit": 1000}, headers=headers)
    if response.status_code != 200:
        return []
    body = response.get_json()
    rows = body.get("results", []) if isinstance(body, dict) else body
    return sorted(row["id"] for row in rows if isinstance(row, dict) and "id" in row)


def _fuzz(operation, run: Run, object_ids: list[int]) -> None:
    if object_ids:
        strategy = st.sampled_from(object_ids).flatmap(
            lambda pk: operation.as_strategy(path_parameters={"id": pk})
        )
    else:
        strategy = operation.as_strategy()

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def send(case):
        _realistic(case, run.references, run.codes)
        response = case.call(headers=run.headers)
        run.calls[operation.label] += 1
        run.statuses[f"{response.status_code // 100}xx"] += 1
        try:
            case.validate_response(response, headers=run.headers, checks=CHECKS)
        except FailureGroup as group:
            failures = list(group.exceptions)
        except Failure as failure:
            failures = [failure]
        else:
            return
        for failure in failures:
            run.kinds[failure.title] += 1
            message = failure.message.replace("\n", " | ")[:300]
            run.failures.append(
                f"{operation.label} → {response.status_code} {failure.title}: {message} "
                f":: {response.text[:300]}"
            )

    send()


def _realistic(case, references: dict[str, list[int]], codes: dict[str, list[str]]) -> None:
    """Fill in what the schema cannot express (module docstring); every change keeps the
    request valid by the schema."""
    # A new key for each request, as the API asks of clients (docs/api.md "Retries and
    # idempotency"); a reused key with another body is a documented 422.
    if case.headers and "Idempotency-Key" in case.headers:
        case.headers["Idempotency-Key"] = str(uuid.uuid4())
    # under /api/maintenance/, "work_order" is a maintenance work order
    maintenance = case.operation.path.startswith("/api/maintenance/")
    for values in (case.query, case.body):
        if not isinstance(values, dict):
            continue
        for name, value in list(values.items()):
            kind = "maintenance_work_order" if maintenance and name == "work_order" else name
            if references.get(kind):
                values[name] = _existing(value, references[kind])
            elif kind in references and values is case.query:
                del values[name]  # an optional filter on a kind of object the plant lacks
            elif codes.get(name) and isinstance(value, str):
                values[name] = codes[name][len(value) % len(codes[name])]
    for values in (case.query, case.body):
        if isinstance(values, dict):
            for start_name, end_name in PERIODS:
                start, end = values.get(start_name), values.get(end_name)
                if isinstance(start, str) and isinstance(end, str):
                    values[end_name] = _within_window(start, end)
    path = case.operation.path
    # an interval entered by hand has ended (the service refuses one that ends in the future)
    if path == "/api/production/state-intervals/" and isinstance(case.body, dict):
        try:
            end_at = parse_datetime(str(case.body.get("end_at")))
        except ValueError:
            end_at = None
        if end_at is not None and end_at.tzinfo is not None and end_at > timezone.now():
            ended_at = timezone.now() - timedelta(hours=1)
            case.body["start_at"] = (ended_at - timedelta(hours=1)).isoformat()
            case.body["end_at"] = ended_at.isoformat()
    # "a site or a run": one of two optional parameters (OpenAPI has no "one of" for them)
    if (
        path.startswith("/api/production/schedule/gantt")
        and isinstance(case.query, dict)
        and case.query.get("site") is None
        and case.query.get("run") is None
    ):
        case.query["site"] = references["site"][0]
    # a report counts at least one unit, good or scrap (both are ≥ 0 in the schema)
    if (
        path.endswith("/report/")
        and isinstance(case.body, dict)
        and not case.body.get("good")
        and not case.body.get("scrap")
    ):
        case.body["good"] = 1
    # a scan is a GS1 element string (anything else is a 400: tests/production/
    # test_consumption.py); this one names a lot the plant does not have (404)
    if path.endswith("/consume/") and isinstance(case.body, dict) and "scan" in case.body:
        case.body["scan"] = f"(10)NO-LOT-{len(str(case.body['scan']))}"
    # a failed inspection names its defect class (optional for a passed one)
    if (
        path == "/api/quality/inspection-results/"
        and isinstance(case.body, dict)
        and case.body.get("is_pass") is False
        and not case.body.get("defect_class")
    ):
        case.body["defect_class"] = "scratch"
    # an attribute result says is_pass; a variable one (a value against its characteristic's
    # spec, within its plan) is refused when they disagree — the fuzzing sends attribute ones
    if path == "/api/quality/inspection-results/" and isinstance(case.body, dict):
        for name in ("measured_value", "plan", "characteristic"):
            case.body.pop(name, None)
        if not isinstance(case.body.get("is_pass"), bool):
            case.body["is_pass"] = True


def _existing(value, ids: list[int]):
    if not ids:
        return value
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return ids[value % len(ids)]
    if isinstance(value, list):
        return [_existing(item, ids) for item in value]
    return value


def _within_window(start: str, end: str) -> str:
    """``end`` if it is after ``start`` and at most ``MAX_WINDOW`` later, else an hour after
    ``start`` (when that is a date-time that can be moved)."""
    try:
        start_at, end_at = parse_datetime(start), parse_datetime(end)
        if start_at is None or end_at is None or start_at.tzinfo is None:
            return end
        if end_at.tzinfo is not None and timedelta(0) < end_at - start_at <= MAX_WINDOW:
            return end
        return (start_at + timedelta(hours=1)).isoformat()
    except (ValueError, OverflowError):
        return end


# What the contract run found, each pinned by a plain test.


def test_a_date_time_filter_with_an_offset_postgresql_cannot_store_is_converted(api_for, plant):
    response = api_for("supervisor").get(
        "/api/telemetry/dead-letters/", {"last_seen_after": "0690-03-09T18:51:26+17:13"}
    )
    assert response.status_code == 200, response.content
    assert response.json()["results"] == []


def test_a_date_time_filter_beyond_the_calendar_in_utc_is_a_field_error(api_for, plant):
    response = api_for("supervisor").get(
        "/api/production/alerts/", {"since": "0001-01-01T00:00:00+05:00"}
    )
    assert response.status_code == 400, response.content
    assert list(response.json()["detail"]) == ["since"]


def test_an_inspection_result_without_a_source_is_recorded_as_manual(api_for, plant):
    response = api_for("quality").post(
        "/api/quality/inspection-results/", {"is_pass": True}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["source"] == "manual"


def test_a_list_counts_exactly_up_to_the_bound(api_for, make_work_order, monkeypatch):
    monkeypatch.setattr(pagination, "EXACT_COUNT_MAX", 3)
    for _ in range(3):
        make_work_order()
    body = api_for("supervisor").get("/api/production/work-orders/", {"limit": 2}).json()
    assert (body["count"], body["count_is_exact"], len(body["results"])) == (3, True, 2)
    assert body["next"] is not None


def test_beyond_the_bound_the_count_is_an_estimate_and_the_pages_go_on(
    api_for, make_work_order, monkeypatch
):
    monkeypatch.setattr(pagination, "EXACT_COUNT_MAX", 3)
    for _ in range(6):
        make_work_order()
    client = api_for("supervisor")
    first = client.get("/api/production/work-orders/", {"limit": 2}).json()
    assert first["count_is_exact"] is False
    assert first["count"] >= 4  # at least what was counted: the bound + 1
    assert first["next"] is not None
    last = client.get("/api/production/work-orders/", {"limit": 2, "offset": 4}).json()
    assert [row["number"] for row in last["results"]] == ["WO-0005", "WO-0006"]
    assert (last["count"], last["count_is_exact"], last["next"]) == (6, True, None)
