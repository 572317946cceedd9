"""Trace pages: enter a lot, serial or supplier lot and see its genealogy both ways (nested
lists, server-rendered) and, for a supplier lot, the recall impact report with its one-click
hold; a print-friendly report page and its CSV export."""

from __future__ import annotations

import csv

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from mes_site.errors import DomainError, Forbidden
from planning.selectors.recall import PLACE_LABELS, RecallReport, recall_report
from planning.services.recall import recall_hold_propose
from traceability.selectors import lot_list_scoped, serial_unit_list_scoped
from traceability.selectors.trace import trace_both_ways

EXPECTED_CODE = "a lot code, a serial number or a supplier lot code"


def _require_view(request: HttpRequest) -> None:
    if not request.user.has_perm("traceability.view_lot"):
        raise Forbidden("Tracing needs the permission to view lots.")


def _tree(direction: dict, start_node: int | None) -> list[dict]:
    """The trace as tokens for nested lists: each node under the node before it on its
    shortest path (``open`` / ``close`` a list, ``item`` a node)."""
    children: dict[int | None, list[dict]] = {}
    for node in direction["nodes"]:
        parent = node["via"]
        children.setdefault(parent, []).append(node)
    tokens: list[dict] = []

    def walk(node_id):
        if node_id not in children:
            return
        tokens.append({"open": True})
        for node in children[node_id]:
            tokens.append({"item": node})
            walk(node["node"])
        tokens.append({"close": True})

    walk(start_node)
    return tokens


def _trace_context(request: HttpRequest, code: str) -> dict:
    visible = lot_list_scoped(user=request.user)
    lot = visible.filter(code=code).first()
    unit = None if lot else serial_unit_list_scoped(user=request.user).filter(serial=code).first()
    context: dict = {"code": code}
    if lot is not None or unit is not None:
        both = trace_both_ways(
            lot_id=lot.pk if lot else None,
            serial_unit_id=unit.pk if unit else None,
            visible=visible,
        )
        start = both["start"]["node"]
        context["start"] = both["start"]
        for direction in ("backward", "forward"):
            payload = both[direction]
            context[direction] = _tree(payload, start)
            context[f"{direction}_count"] = len(payload["nodes"])
    supplier_lot = code if visible.filter(supplier_lot_code=code).exists() else None
    if supplier_lot is None and lot is not None and lot.supplier_lot_code:
        supplier_lot = lot.supplier_lot_code
    if supplier_lot:
        context["report"] = recall_report(supplier_lot_code=supplier_lot, visible=visible)
        context["place_labels"] = PLACE_LABELS
        context["may_hold"] = request.user.has_perm("traceability.change_lot")
    if "start" not in context and "report" not in context:
        context["error"] = f"No lot, serial or supplier lot {code!r}: expected {EXPECTED_CODE}."
    return context


@login_required
@require_http_methods(["GET", "POST"])
def trace_page(request: HttpRequest) -> HttpResponse:
    _require_view(request)
    if request.method == "POST":
        supplier_lot = (request.POST.get("supplier_lot") or "").strip()
        try:
            action = (
                recall_hold_propose(
                    supplier_lot_code=supplier_lot,
                    actor=request.user,
                    visible=lot_list_scoped(user=request.user),
                )
                if request.user.has_perm("traceability.change_lot")
                else None
            )
        except DomainError as error:
            messages.error(request, error.message)
        else:
            if action is None:
                messages.error(request, "Holding lots needs the permission to change lots.")
            else:
                messages.success(
                    request, f"Proposed action {action.pk}: {action.target} ({action.status})."
                )
        return redirect(f"{request.path}?code={supplier_lot}")
    code = (request.GET.get("code") or "").strip()
    context = _trace_context(request, code) if code else {"code": ""}
    context["expected"] = EXPECTED_CODE
    status = 404 if context.get("error") else 200
    return render(request, "traceability/trace.html", context, status=status)


def _report_or_400(request: HttpRequest) -> RecallReport | None:
    code = (request.GET.get("supplier_lot") or "").strip()
    if not code:
        return None
    return recall_report(supplier_lot_code=code, visible=lot_list_scoped(user=request.user))


@login_required
def recall_print(request: HttpRequest) -> HttpResponse:
    """The recall report on one printable page (the browser's print makes the PDF)."""
    _require_view(request)
    report = _report_or_400(request)
    return render(
        request,
        "traceability/recall_print.html",
        {"report": report, "place_labels": PLACE_LABELS, "expected": EXPECTED_CODE},
    )


CSV_COLUMNS = [
    "kind", "code", "item", "is_finished", "status", "place_kind", "place", "quantity",
    "lot_code", "lot_status", "is_in_our_hands",
]  # fmt: skip


def _cell(value):
    """A text cell a spreadsheet would run as a formula is quoted (CSV injection)."""
    if isinstance(value, str) and value[:1] in {"=", "+", "-", "@", "\t", "\r"}:
        return "'" + value
    return value


@login_required
def recall_csv(request: HttpRequest) -> HttpResponse:
    _require_view(request)
    report = _report_or_400(request)
    name = report.supplier_lot_code if report else "none"
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="recall-{name}.csv"'
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    for row in report.rows if report else []:
        writer.writerow([_cell(getattr(row, column)) for column in CSV_COLUMNS])
    return response
