from django.urls import path

from quality.pages import ncr

urlpatterns = [
    path("quality/", ncr.quality_overview, name="quality-overview"),
    path("quality/review/", ncr.review_queue, name="quality-review"),
    path("quality/ncrs/", ncr.ncr_board, name="quality-ncrs"),
    path("quality/ncrs/<int:ncr_id>/", ncr.ncr_detail, name="quality-ncr"),
]
