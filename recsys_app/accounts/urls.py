from django.urls import path

from recsys_app.accounts import apis

urlpatterns = [
    path("end-user-tokens", apis.EndUserTokenApi.as_view(), name="end-user-token"),
]
