from rest_framework.routers import DefaultRouter

from quality.api import inspections, ncr, spc, views, vision

router = DefaultRouter()
router.register("characteristics", views.CharacteristicViewSet)
router.register("measurements", views.MeasurementViewSet)
router.register("inspection-results", views.InspectionResultViewSet)
router.register("inspection-plans", inspections.InspectionPlanViewSet)
router.register("lot-inspections", inspections.LotInspectionViewSet)
router.register("holds", inspections.QualityHoldViewSet)
router.register("vision-results", vision.VisionResultViewSet)
router.register("ncrs", ncr.NonConformanceViewSet)
router.register("capas", ncr.CapaViewSet)
router.register("control-charts", spc.ControlChartViewSet)
router.register("rule-violations", spc.RuleViolationViewSet)

urlpatterns = router.urls
