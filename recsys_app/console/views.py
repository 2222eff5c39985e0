"""Console pages beyond the model pages: the dashboard, the user preview, starting a job.

Each page is wrapped by `console_page(permission)`: the admin's login and staff check, then the
named permission (403 without it), so no page relies on its link being hidden.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_POST

from recsys_app.catalog.models import EndUser
from recsys_app.console.dashboard import dashboard_context
from recsys_app.console.experiment_page import experiment_context
from recsys_app.console.jobs import job_start
from recsys_app.console.preview import preview_compare, preview_surfaces, user_history
from recsys_app.evaluation.replay import experiment_replay_start
from recsys_app.lib.traffic import population_of
from recsys_app.ops.simulated_traffic import simulated_traffic_purge
from recsys_app.ops.simulator import simulation_bench_start
from recsys_app.ranking.models import Experiment

View = Callable[..., HttpResponse]


def console_page(permission: str) -> Callable[[View], View]:
    def wrap(view: View) -> View:
        @wraps(view)
        def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.has_perm(permission):
                raise PermissionDenied(f"this page needs the permission {permission}")
            return view(request, *args, **kwargs)

        return admin.site.admin_view(checked)  # type: ignore[return-value]

    return wrap


def _page(request: HttpRequest, template: str, title: str, **context: Any) -> TemplateResponse:
    return TemplateResponse(request, template, {**admin.site.each_context(request), "title": title, **context})


@console_page("ops.view_taskrun")
def dashboard(request: HttpRequest) -> HttpResponse:
    population = population_of(request.GET.get("population"))
    return _page(request, "console/dashboard.html", "Dashboard", **dashboard_context(population))


@require_POST
@console_page("catalog.delete_interaction")
def simulated_purge(request: HttpRequest) -> HttpResponse:
    if request.POST.get("confirm") != "yes":
        messages.error(request, "confirm: tick the box to delete everything simulated users wrote.")
        return HttpResponseRedirect(reverse("console:dashboard"))
    removed = simulated_traffic_purge(by=request.user)
    messages.success(request, f"Purged simulated traffic: {removed.events} events, {removed.impressions} impressions, "
                              f"{removed.exposures} exposures, {removed.chat_sessions} chat sessions, "
                              f"{removed.users} simulated users.")  # fmt: skip
    return HttpResponseRedirect(reverse("console:dashboard"))


@console_page("catalog.view_enduser")
def user_preview(request: HttpRequest) -> HttpResponse:
    external_id = request.GET.get("user", "").strip()
    running = list(Experiment.objects.filter(status=Experiment.Status.RUNNING).order_by("surface"))
    context: dict[str, Any] = {"user_id": external_id, "running": running}
    if not external_id:
        context["suggested"] = list(EndUser.objects.order_by("-updated_at").values_list("external_id", flat=True)[:8])
        return _page(request, "console/preview.html", "User preview", **context)
    user = EndUser.objects.filter(external_id=external_id).first()
    if user is None:
        context["error"] = f"user: no end user with external id '{external_id}'"
        return _page(request, "console/preview.html", "User preview", **context)
    history = user_history(user)
    context.update(end_user=user, history=history, surfaces=preview_surfaces(user, history))
    chosen_pk = request.GET.get("experiment")
    experiment = next((e for e in running if str(e.pk) == chosen_pk), running[0] if running else None)
    if experiment is not None:
        names = [v["name"] for v in experiment.variants]
        chosen = (request.GET.get("a") or names[0], request.GET.get("b") or names[-1])
        context.update(
            compare=preview_compare(user, history, experiment, chosen),
            variant_names=names,
            variant_a=chosen[0],
            variant_b=chosen[1],
        )
    return _page(request, "console/preview.html", f"What {external_id} sees", **context)


@console_page("ranking.view_experiment")
def experiment_page(request: HttpRequest, pk: int) -> HttpResponse:
    experiment = get_object_or_404(Experiment, pk=pk)
    context = experiment_context(experiment, population_of(request.GET.get("population")))
    return _page(request, "console/experiment.html", f"Experiment {experiment.name}", **context)


@require_POST
@console_page("ranking.change_experiment")
def experiment_replay(request: HttpRequest, pk: int) -> HttpResponse:
    experiment = get_object_or_404(Experiment, pk=pk)
    try:
        run = experiment_replay_start(experiment=experiment, by=request.user)
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Replay queued (evaluation run #{run.pk}); results show here when it finishes.")
    return HttpResponseRedirect(reverse("console:experiment", args=[pk]))


@require_POST
@console_page("ranking.change_experiment")
def experiment_simulate(request: HttpRequest, pk: int) -> HttpResponse:
    experiment = get_object_or_404(Experiment, pk=pk)
    try:
        run = simulation_bench_start(experiment=experiment, users=request.POST.get("users", ""),
                                     hours=request.POST.get("hours", ""), by=request.user)  # fmt: skip
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Simulation queued (job #{run.pk}); its progress shows here.")
    return HttpResponseRedirect(reverse("console:experiment", args=[pk]))


@require_POST
@console_page("ops.add_taskrun")
def jobs_start(request: HttpRequest) -> HttpResponse:
    try:
        run = job_start(key=request.POST.get("job", ""), by=request.user)
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{run.task_name} queued (#{run.pk}); it shows here as soon as a worker takes it.")
    return HttpResponseRedirect(reverse("admin:ops_taskrun_changelist"))
