"""Pages of the live screens: the supervisor dashboard and its panels, HMI, equipment page."""

from django.urls import path

from live import views

urlpatterns = [
    path("", views.supervisor_home, name="home"),
    path("live/panels/<slug:panel>/", views.panel_fragment, name="live-panel"),
    path("hmi/", views.hmi_stations, name="hmi"),
    path("hmi/station/<int:equipment_id>/", views.hmi_station, name="hmi-station"),
    path(
        "hmi/station/<int:equipment_id>/body/",
        views.hmi_station_fragment,
        name="hmi-station-body",
    ),
    path("equipment/<int:equipment_id>/", views.equipment_detail, name="equipment-detail"),
]
