from rest_framework.routers import DefaultRouter

from quality.api import views

router = DefaultRouter()
router.register("characteristics", views.CharacteristicViewSet)
router.register("measurements", views.MeasurementViewSet)
router.register("inspection-results", views.InspectionResultViewSet)

urlpatterns = router.urls
