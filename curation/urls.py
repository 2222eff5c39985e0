from django.urls import path

from curation import apis

urlpatterns = [
    path("collections", apis.CollectionsApi.as_view(), name="collections"),
    path("collections/<int:collection_id>", apis.CollectionDetailApi.as_view(), name="collection-detail"),
    path("enrichment-jobs", apis.EnrichmentJobsApi.as_view(), name="enrichment-jobs"),
    path("enrichment-jobs/<int:job_id>", apis.EnrichmentJobDetailApi.as_view(), name="enrichment-job-detail"),
]
