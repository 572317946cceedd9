"""API routes of the monitoring area (registered on the production API)."""

from rest_framework.routers import SimpleRouter

from production.api import monitoring as views

router = SimpleRouter()
router.register("oee/lines", views.LineOeeViewSet, basename="oee-line")
router.register("oee/equipment", views.EquipmentOeeViewSet, basename="oee-equipment")
router.register("oee/areas", views.AreaOeeViewSet, basename="oee-area")
router.register("oee/sites", views.SiteOeeViewSet, basename="oee-site")
router.register("oee/work-orders", views.WorkOrderOeeViewSet, basename="oee-work-order")
router.register("oee/snapshots", views.OeeSnapshotViewSet, basename="oee-snapshot")
router.register("oee/losses", views.OeeLossesViewSet, basename="oee-losses")
router.register("state-intervals", views.StateIntervalViewSet, basename="state-interval")
router.register("alerts", views.AlertViewSet, basename="alert")
router.register("alert-rules", views.AlertRuleViewSet, basename="alert-rule")

urlpatterns = router.urls
