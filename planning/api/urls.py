"""API routes of planning (mounted on the production API's prefix)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from planning.api import views

router = SimpleRouter()
router.register("schedule-runs", views.ScheduleRunViewSet, basename="schedulerun")
router.register("customer-orders", views.CustomerOrderViewSet, basename="customerorder")
router.register("line-cost-rates", views.LineCostRatesViewSet, basename="linecostrates")

urlpatterns = [
    path("schedule/gantt/", views.GanttView.as_view(), name="schedule-gantt"),
    path("schedule/gantt.svg", views.GanttSvgView.as_view(), name="schedule-gantt-svg"),
    path("line-order-events/", views.StationEventView.as_view(), name="line-order-events"),
    path("what-if/actions/<pk>/", views.WhatIfActionView.as_view(), name="whatif-action"),
    path("what-if/outage/", views.WhatIfOutageView.as_view(), name="whatif-outage"),
    *router.urls,
]
