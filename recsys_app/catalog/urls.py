from django.urls import path

from recsys_app.catalog import apis

urlpatterns = [
    path("creators/bulk", apis.CreatorsUpsertApi.as_view(), name="creators-upsert"),
    path("items/bulk", apis.ItemsUpsertApi.as_view(), name="items-upsert"),
    path("users/bulk", apis.EndUsersUpsertApi.as_view(), name="users-upsert"),
    path("events", apis.EventsIngestApi.as_view(), name="events-ingest"),
    path("items", apis.ItemListApi.as_view(), name="item-list"),
    path("items/<path:external_id>", apis.ItemDetailApi.as_view(), name="item-detail"),
    path("users/<path:external_id>", apis.EndUserDetailApi.as_view(), name="user-detail"),
]
