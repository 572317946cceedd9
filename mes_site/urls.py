from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from mes_site import mfa_views, views
from mes_site.csp import csp_report
from workers.observability import metrics_view

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    # Browsers ask for /favicon.ico on pages without an icon link (the admin's, the API's).
    path("favicon.ico", RedirectView.as_view(url=static("img/favicon.svg"), permanent=True)),
    path("metrics", metrics_view, name="metrics"),
    path("csp-report/", csp_report, name="csp-report"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/mfa/verify/", mfa_views.mfa_verify_view, name="mfa-verify"),
    path("accounts/mfa/enrol/", mfa_views.mfa_enrol_view, name="mfa-enrol"),
    path("accounts/mfa/", mfa_views.mfa_manage_view, name="mfa-manage"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", views.ApiDocsView.as_view(url_name="api-schema"), name="api-docs"),
    # The production API also carries planning's and autonomy's routes: the URLs are the
    # integrators' contract and stayed where they were when those apps were split out.
    path("api/production/", include("production.api.urls")),
    path("api/production/", include("planning.api.urls")),
    path("api/production/", include("autonomy.api.urls")),
    path("api/quality/", include("quality.api.urls")),
    path("api/maintenance/", include("maintenance.api.urls")),
    path("api/inventory/", include("inventory.api.urls")),
    path("api/traceability/", include("traceability.api.urls")),
    # the recall report reads stock, work orders and shipments: it lives in planning
    path("api/traceability/", include("planning.api.recall_urls")),
    path("api/telemetry/", include("workers.api.urls")),
    path("api/live/", include("live.api.urls")),
    path("api/integration/", include("integration.api.urls")),
    path("", include("quality.pages.urls")),
    path("", include("live.urls")),
]

handler400 = "mes_site.views.bad_request"
handler403 = "mes_site.views.permission_denied"
handler404 = "mes_site.views.not_found"
handler500 = "mes_site.views.server_error"
