from rest_framework.routers import DefaultRouter

from quality.api import spc, views

router = DefaultRouter()
router.register("characteristics", views.CharacteristicViewSet)
router.register("measurements", views.MeasurementViewSet)
router.register("inspection-results", views.InspectionResultViewSet)
router.register("control-charts", spc.ControlChartViewSet)
router.register("rule-violations", spc.RuleViolationViewSet)

urlpatterns = router.urls
