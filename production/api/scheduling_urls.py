"""API routes of the scheduling area (registered on the production API)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from production.api import scheduling as views

router = SimpleRouter()
router.register("schedule-runs", views.ScheduleRunViewSet, basename="schedulerun")
router.register("customer-orders", views.CustomerOrderViewSet, basename="customerorder")
router.register("proposed-actions", views.ProposedActionViewSet, basename="proposedaction")
router.register("autonomy", views.AutonomyViewSet, basename="autonomy")

urlpatterns = [
    path("schedule/gantt/", views.GanttView.as_view(), name="schedule-gantt"),
    path("schedule/gantt.svg", views.GanttSvgView.as_view(), name="schedule-gantt-svg"),
    path("line-order-events/", views.StationEventView.as_view(), name="line-order-events"),
    *router.urls,
]
