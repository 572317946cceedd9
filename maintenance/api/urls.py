from rest_framework.routers import DefaultRouter

from maintenance.api import views

router = DefaultRouter()
router.register("component-parts", views.ComponentPartViewSet)
router.register("work-orders", views.MaintenanceWorkOrderViewSet, basename="maintenanceworkorder")
router.register("health", views.HealthSnapshotViewSet, basename="healthsnapshot")
router.register("baselines", views.HealthBaselineViewSet, basename="healthbaseline")
router.register("episodes", views.AnomalyEpisodeViewSet, basename="anomalyepisode")
router.register("plans", views.PreventivePlanViewSet, basename="preventiveplan")
router.register("failure-events", views.FailureEventViewSet, basename="failureevent")
router.register("sensor-suspicions", views.SensorSuspicionViewSet, basename="sensorsuspicion")
router.register("reliability", views.ReliabilityViewSet, basename="reliability")

urlpatterns = router.urls
