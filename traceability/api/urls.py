from rest_framework.routers import DefaultRouter

from traceability.api import views

router = DefaultRouter()
router.register("lots", views.LotViewSet)
router.register("serial-units", views.SerialUnitViewSet)
router.register("audit-events", views.AuditEventViewSet)

urlpatterns = router.urls
