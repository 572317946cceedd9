from rest_framework.routers import DefaultRouter

from integration.api import views

router = DefaultRouter()
router.register("webhook-subscriptions", views.WebhookSubscriptionViewSet)
router.register("webhook-deliveries", views.WebhookDeliveryViewSet)

urlpatterns = router.urls
