"""API routes of the monitoring area (registered on the production API)."""

from rest_framework.routers import SimpleRouter

from production.api import alerts, oee, state_intervals

router = SimpleRouter()
router.register("oee/lines", oee.LineOeeViewSet, basename="oee-line")
router.register("oee/equipment", oee.EquipmentOeeViewSet, basename="oee-equipment")
router.register("oee/areas", oee.AreaOeeViewSet, basename="oee-area")
router.register("oee/sites", oee.SiteOeeViewSet, basename="oee-site")
router.register("oee/work-orders", oee.WorkOrderOeeViewSet, basename="oee-work-order")
router.register("oee/snapshots", oee.OeeSnapshotViewSet, basename="oee-snapshot")
router.register("oee/losses", oee.OeeLossesViewSet, basename="oee-losses")
router.register("state-intervals", state_intervals.StateIntervalViewSet, basename="state-interval")
router.register("alerts", alerts.AlertViewSet, basename="alert")
router.register("alert-rules", alerts.AlertRuleViewSet, basename="alert-rule")

urlpatterns = router.urls
