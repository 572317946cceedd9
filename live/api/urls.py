"""Routes of the commands only the live screens need (mounted at /api/live/)."""

from django.urls import path

from live.api.views import OperationReportView

urlpatterns = [
    path(
        "operations/<int:operation_id>/report/",
        OperationReportView.as_view(),
        name="live-operation-report",
    ),
]
