"""API routes of the scheduling area (registered on the production API)."""

urlpatterns: list = []
