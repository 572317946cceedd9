"""API routes of the guardrails (mounted on the production API's prefix)."""

from rest_framework.routers import SimpleRouter

from autonomy.api import views

router = SimpleRouter()
router.register("proposed-actions", views.ProposedActionViewSet, basename="proposedaction")

urlpatterns = router.urls
