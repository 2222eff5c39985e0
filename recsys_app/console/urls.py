from django.urls import path

from recsys_app.console import views

app_name = "console"
urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("preview/", views.user_preview, name="preview"),
    path("jobs/start/", views.jobs_start, name="jobs_start"),
    path("simulated/purge/", views.simulated_purge, name="simulated_purge"),
    path("experiments/<int:pk>/", views.experiment_page, name="experiment"),
    path("experiments/<int:pk>/replay/", views.experiment_replay, name="experiment_replay"),
    path("experiments/<int:pk>/simulate/", views.experiment_simulate, name="experiment_simulate"),
]
