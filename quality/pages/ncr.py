"""Quality pages: overview, review queue (accept / reject with the image), NCR/CAPA board and
NCR detail with the disposition form (password = electronic signature).

Reads through the scoped selectors (an object outside the scope is 404); writes through the
services, with the same permissions as the API.
"""

from __future__ import annotations

import base64

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from mes_site.errors import DomainError
from quality import selectors
from quality.choices import DispositionDecision, HoldStatus, NonConformanceStatus
from quality.services import ncr as ncr_services
from quality.services import vision as vision_services
from traceability.choices import SignatureMeaning

LIST_LIMIT = 50


def _require(request: HttpRequest, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied


@login_required
def quality_overview(request: HttpRequest) -> HttpResponse:
    _require(request, "quality.view_nonconformance")
    user = request.user
    open_ncrs = selectors.non_conformance_open_list(user=user)
    holds = selectors.quality_hold_open_list(user=user)
    context = {
        "open_ncr_count": open_ncrs.count(),
        "active_hold_count": holds.filter(status=HoldStatus.ACTIVE).count(),
        "proposed_hold_count": holds.filter(status=HoldStatus.PROPOSED).count(),
        "review_count": selectors.vision_review_queue(user=user).count(),
        "open_ncrs": list(open_ncrs[:LIST_LIMIT]),
        "holds": list(holds.select_related("lot")[:LIST_LIMIT]),
        "pareto": selectors.defect_pareto(user=user)[:10],
    }
    return render(request, "quality/overview.html", context)


def _image_data_uri(result) -> str:
    if not result.image_bytes or not result.image_content_type:
        return ""
    encoded = base64.b64encode(bytes(result.image_bytes)).decode()
    return f"data:{result.image_content_type};base64,{encoded}"


@login_required
@require_http_methods(["GET", "POST"])
def review_queue(request: HttpRequest) -> HttpResponse:
    _require(request, "quality.view_visionresult")
    queue = selectors.vision_review_queue(user=request.user)
    if request.method == "POST":
        _require(request, "quality.change_visionresult")
        result = queue.filter(pk=_whole(request.POST.get("result"))).first()
        if result is None:
            raise Http404
        verdict = request.POST.get("verdict")
        if verdict not in ("accept", "reject"):
            messages.error(request, "Choose accept or reject.")
            return redirect("quality-review")
        try:
            vision_services.vision_result_review(
                result_id=result.pk,
                is_defect=verdict == "accept",
                actor=request.user,
                reason=request.POST.get("reason", "")[:500],
            )
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, f"Result {result.pk}: {verdict}ed.")
        return redirect("quality-review")
    items = [
        {"result": result, "image": _image_data_uri(result), "defects": list(result.defects.all())}
        for result in queue.order_by("inspected_at")[:LIST_LIMIT]
    ]
    return render(request, "quality/review_queue.html", {"items": items})


@login_required
def ncr_board(request: HttpRequest) -> HttpResponse:
    _require(request, "quality.view_nonconformance")
    ncrs = selectors.non_conformance_list(user=request.user)
    columns = [
        (label, list(ncrs.filter(status=value)[:LIST_LIMIT]))
        for value, label in NonConformanceStatus.choices
    ]
    capas = list(selectors.capa_list(user=request.user).exclude(status="closed")[:LIST_LIMIT])
    return render(request, "quality/ncr_board.html", {"columns": columns, "capas": capas})


@login_required
@require_http_methods(["GET", "POST"])
def ncr_detail(request: HttpRequest, ncr_id: int) -> HttpResponse:
    _require(request, "quality.view_nonconformance")
    ncr = selectors.non_conformance_list(user=request.user).filter(pk=ncr_id).first()
    if ncr is None:
        raise Http404
    error = ""
    if request.method == "POST":
        _require(request, ncr_services.DISPOSITION_PERMISSION)
        try:
            ncr_services.ncr_disposition_sign(
                ncr_id=ncr.pk,
                user=request.user,
                password=request.POST.get("password", ""),
                decision=request.POST.get("decision", ""),
                reason=request.POST.get("reason", "")[:2000],
                meaning=request.POST.get("meaning", SignatureMeaning.APPROVAL),
                request=request,
            )
        except DomainError as failure:
            error = failure.message
        else:
            messages.success(request, f"{ncr.number}: disposition signed.")
            return redirect("quality-ncr", ncr_id=ncr.pk)
    context = {
        "ncr": ncr,
        "lots": list(ncr.lots.all()),
        "holds": list(ncr.holds.select_related("lot", "proposed_action")),
        "capas": list(selectors.capa_list(user=request.user).filter(non_conformance=ncr)),
        "can_sign": request.user.has_perm(ncr_services.DISPOSITION_PERMISSION)
        and ncr.status in (NonConformanceStatus.OPEN, NonConformanceStatus.CONTAINED),
        "decisions": DispositionDecision.choices,
        "meanings": SignatureMeaning.choices,
        "error": error,
    }
    return render(request, "quality/ncr_detail.html", context, status=400 if error else 200)


def _whole(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 10 else None
