from rest_framework.routers import DefaultRouter

from production.api import bom, monitoring_urls, views

router = DefaultRouter()
router.register("enterprises", views.EnterpriseViewSet)
router.register("sites", views.SiteViewSet, basename="site")
router.register("areas", views.AreaViewSet, basename="area")
router.register("lines", views.LineViewSet, basename="line")
router.register("cells", views.CellViewSet, basename="cell")
router.register("capabilities", views.CapabilityViewSet)
router.register("equipment", views.EquipmentViewSet, basename="equipment")
router.register("signals", views.SignalViewSet, basename="signal")
router.register("products", views.ProductViewSet)
router.register("routings", views.RoutingViewSet)
router.register("operation-templates", views.OperationTemplateViewSet)
router.register("boms", bom.BillOfMaterialsViewSet)
router.register("shift-calendars", views.ShiftCalendarViewSet)
router.register("shifts", views.ShiftViewSet)
router.register("shift-breaks", views.ShiftBreakViewSet)
router.register("planned-downtimes", views.PlannedDowntimeViewSet)
router.register("downtime-reasons", views.DowntimeReasonViewSet)
router.register("work-orders", views.WorkOrderViewSet, basename="workorder")
router.register("operations", views.OperationViewSet, basename="operation")
router.register("autonomy", views.AutonomyViewSet, basename="autonomy")

urlpatterns = router.urls + monitoring_urls.urlpatterns
