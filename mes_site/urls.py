from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from mes_site import views
from production import views as production_views

urlpatterns = [
    path("", views.supervisor_home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("live/panels/<slug:panel>/", production_views.panel_fragment, name="live-panel"),
    path("hmi/", production_views.hmi_stations, name="hmi"),
    path("hmi/station/<int:equipment_id>/", production_views.hmi_station, name="hmi-station"),
    path(
        "hmi/station/<int:equipment_id>/body/",
        production_views.hmi_station_fragment,
        name="hmi-station-body",
    ),
    path(
        "equipment/<int:equipment_id>/",
        production_views.equipment_detail,
        name="equipment-detail",
    ),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", views.ApiDocsView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/production/", include("production.api.urls")),
    path("api/quality/", include("quality.api.urls")),
    path("api/maintenance/", include("maintenance.api.urls")),
    path("api/inventory/", include("inventory.api.urls")),
    path("api/traceability/", include("traceability.api.urls")),
    path("api/telemetry/", include("workers.api.urls")),
    path("api/live/", include("production.api.live")),
]

handler404 = "mes_site.views.not_found"
handler500 = "mes_site.views.server_error"

__all__ = ["SpectacularSwaggerView", "urlpatterns"]
