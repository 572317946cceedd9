"""Pages of the live screens: the supervisor dashboard and its panels, HMI (and its station
login), equipment page, and the account pages (API tokens, station PIN)."""

from django.urls import path

from live import account_views, role_views, spc_pages, trace_views, views

urlpatterns = [
    path("", role_views.home, name="home"),
    path("dashboard/", views.supervisor_home, name="dashboard"),
    path("maintenance/", role_views.maintenance_board, name="maintenance-board"),
    path("planning/", role_views.planning_home, name="planning-home"),
    path("live/panels/<slug:panel>/", views.panel_fragment, name="live-panel"),
    path("hmi/", views.hmi_stations, name="hmi"),
    path("hmi/station/<int:equipment_id>/", views.hmi_station, name="hmi-station"),
    path(
        "hmi/station/<int:equipment_id>/body/",
        views.hmi_station_fragment,
        name="hmi-station-body",
    ),
    path(
        "hmi/station/<int:equipment_id>/login/",
        account_views.hmi_station_login,
        name="hmi-station-login",
    ),
    path("account/tokens/", account_views.account_tokens, name="account-tokens"),
    path("account/pin/", account_views.account_pin, name="account-pin"),
    path("equipment/<int:equipment_id>/", views.equipment_detail, name="equipment-detail"),
    path("quality/spc/", spc_pages.spc_overview, name="spc-overview"),
    path("quality/spc/<int:chart_id>/", spc_pages.spc_chart, name="spc-chart"),
    path("traceability/", trace_views.trace_page, name="trace"),
    path("traceability/recall/", trace_views.recall_print, name="trace-recall-print"),
    path("traceability/recall.csv", trace_views.recall_csv, name="trace-recall-csv"),
]
