from django.urls import path

from recsys_app.safety import apis

urlpatterns = [
    path("users/<str:user_id>/export", apis.EndUserExportApi.as_view(), name="end-user-export"),
    path("users/<str:user_id>/deletion", apis.EndUserDeletionApi.as_view(), name="end-user-deletion"),
    path("deletions/<int:deletion_id>", apis.DeletionDetailApi.as_view(), name="deletion-detail"),
    path("fairness/exposure", apis.ExposureApi.as_view(), name="exposure"),
    path("audit", apis.AuditApi.as_view(), name="audit"),
]
