from django.urls import path

from recsys_app.ranking import apis

urlpatterns = [
    path("recommendations", apis.RecommendationsApi.as_view(), name="recommendations"),
    path("items/<path:external_id>/similar", apis.SimilarItemsApi.as_view(), name="item-similar"),
    path("trending", apis.TrendingApi.as_view(), name="trending"),
    path("search", apis.SearchApi.as_view(), name="search"),
    path("experiments/<slug:name>/results", apis.ExperimentResultsApi.as_view(), name="experiment-results"),
]
