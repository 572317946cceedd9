from rest_framework.routers import DefaultRouter

from inventory.api import views

router = DefaultRouter()
router.register("items", views.ItemViewSet)
router.register("locations", views.LocationViewSet)
router.register("stock", views.StockViewSet)
router.register("movements", views.StockMovementViewSet)
router.register("reservations", views.ReservationViewSet)
router.register("procurement-requests", views.ProcurementRequestViewSet)

urlpatterns = router.urls
