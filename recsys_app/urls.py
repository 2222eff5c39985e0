from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from recsys_app.accounts.login import LockoutAuthenticationForm
from recsys_app.lib.api_schema import api_not_found
from recsys_app.lib.csp import API_DOCS, csp_policy
from recsys_app.ops.views import healthz

admin.site.site_header = "Recommendation console"
admin.site.site_title = "Recommendation console"
admin.site.index_title = "Operations"
# The console's own bar (templates/admin/base_site.html) leads to its pages; the model sidebar
# would take a third of the width the dashboard, review page and lists need.
admin.site.enable_nav_sidebar = False
admin.site.login_form = LockoutAuthenticationForm

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/v1/", include("recsys_app.ranking.urls")),  # before catalog: items/<id>/similar
    path("api/v1/", include("recsys_app.safety.urls")),  # before catalog: users/<id>/export
    path("api/v1/", include("recsys_app.catalog.urls")),
    path("api/v1/", include("curation.urls")),
    path("api/v1/", include("agents.urls")),
    path("api/v1/", include("recsys_app.accounts.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file (?script), not inline.
    path("api/docs/", csp_policy(API_DOCS)(SpectacularSwaggerSplitView.as_view(url_name="schema")), name="swagger-ui"),
    path("api/redoc/", csp_policy(API_DOCS)(SpectacularRedocView.as_view(url_name="schema")), name="redoc"),
    path("console/", include("recsys_app.console.urls")),
    re_path(r"^api/(?P<path>.*)$", api_not_found),  # after every API route: JSON 404, not the login page
    # Last: the admin's catch-all redirects every unknown path to its login page.
    path("", admin.site.urls),
]
