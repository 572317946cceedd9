from rest_framework.routers import DefaultRouter

from maintenance.api import views

router = DefaultRouter()
router.register("component-parts", views.ComponentPartViewSet)
router.register("work-orders", views.MaintenanceWorkOrderViewSet, basename="maintenanceworkorder")

urlpatterns = router.urls
