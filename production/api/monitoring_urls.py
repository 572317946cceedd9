"""API routes of the monitoring area (registered on the production API)."""

urlpatterns: list = []
