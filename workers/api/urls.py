from django.urls import path
from rest_framework.routers import DefaultRouter

from workers.api import views

router = DefaultRouter()
router.register("dead-letters", views.DeadLetterViewSet, basename="telemetry-dead-letter")

urlpatterns = [
    path(
        "signals/<int:signal_id>/series/",
        views.SignalSeriesView.as_view(),
        name="telemetry-signal-series",
    ),
    path(
        "equipment/<int:equipment_id>/current-values/",
        views.CurrentValuesView.as_view(),
        name="telemetry-current-values",
    ),
    path("status/", views.IngestStatusView.as_view(), name="telemetry-status"),
    *router.urls,
]
