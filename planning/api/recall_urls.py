"""The recall routes of planning, mounted on the traceability API's prefix."""

from django.urls import path

from planning.api.recall import RecallHoldView, RecallView

urlpatterns = [
    path("recall/", RecallView.as_view(), name="recall"),
    path("recall/hold/", RecallHoldView.as_view(), name="recall-hold"),
]
