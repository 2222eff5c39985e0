"""The console's main flows in headless Chromium, logged in as each role through the login form."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from curation.models import Draft
from recsys_app.llmops.models import EvalDataset, EvalRun, Prompt, PromptVersion
from recsys_app.llmops.prompts import version_create
from recsys_app.ranking.models import Experiment
from recsys_app.safety.redteam import SAFETY_SETS
from tests.world import World

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_reviewer_reviews_with_the_keyboard_and_operator_publishes(
    console_as: Callable[[str], Any], make_draft: Callable[..., Draft]
) -> None:
    draft = make_draft()
    reviewer = console_as("reviewer")
    reviewer.open("/curation/draft/?status__exact=pending_review")
    reviewer.shot("review-queue")
    reviewer.page.locator(f"a[href*='/curation/draft/{draft.pk}/']").first.click()
    reviewer.page.wait_for_selector("#claim")
    reviewer.page.wait_for_load_state("domcontentloaded")  # the shortcuts' script (a static file) has run
    reviewer.page.keyboard.press("c")  # start review
    reviewer.page.wait_for_selector("#approve")
    reviewer.page.fill("input[name=title]", "Horror Nights")
    assert reviewer.page.is_visible("#unsaved-note"), "unsaved edits are flagged before saving"
    reviewer.page.locator("body").click(position={"x": 5, "y": 5})
    reviewer.shot("review-editing")
    reviewer.page.keyboard.press("a")  # approve (saves the edit first)
    reviewer.page.wait_for_selector("text=approve done")
    draft.refresh_from_db()
    assert (draft.status, draft.content["title"]) == (Draft.Status.APPROVED, "Horror Nights")
    assert "+title: Horror Nights" in reviewer.page.inner_text("#saved-diff")
    assert reviewer.page.locator("#publish").count() == 0, "a reviewer is not offered publishing"
    reviewer.shot("review-approved")

    operator = console_as("operator")
    operator.open(f"/curation/draft/{draft.pk}/review/")
    operator.page.click("#publish")
    operator.page.wait_for_selector("text=publish done")
    draft.refresh_from_db()
    assert draft.status == Draft.Status.PUBLISHED
    operator.shot("published")


def test_viewer_previews_a_user_and_compares_variants(console_as: Callable[[str], Any], world: World,
                                                      operator: Any) -> None:  # fmt: skip
    from recsys_app.ranking.experiments import experiment_start

    experiment = Experiment.objects.create(name="trend-test", surface="home", salt="t", variants=[
        {"name": "control", "weight": 1, "config": {}},
        {"name": "trending", "weight": 1, "config": {"sources": {"trending": {"weight": 1.0}}}}])  # fmt: skip
    experiment_start(experiment=experiment, by=operator)
    viewer = console_as("viewer")
    viewer.open("/console/preview/")
    viewer.page.fill("input[name=user]", "shopper-3")
    viewer.page.click("#preview-form button[type=submit]")
    viewer.page.wait_for_selector("#surface-home")
    rows = viewer.page.locator("#surface-home + table tbody tr")
    assert rows.count() >= 5
    assert viewer.page.locator("#compare h3").all_inner_texts() == ["Variant control", "Variant trending"]
    assert viewer.page.locator("#history tbody tr").count() == 4
    viewer.shot("preview")


def test_operator_promotes_a_prompt_through_its_gate(console_as: Callable[[str], Any], llm: None) -> None:
    prompt = Prompt.objects.get(name="explanation")
    current = PromptVersion.objects.get(prompt=prompt, label=PromptVersion.Label.PRODUCTION)
    fields = {name: getattr(current, name) for name in ("system", "template", "examples", "variables_schema",
                                                         "output_schema", "params")}  # fmt: skip
    candidate = version_create(prompt=prompt, note="shorter wording", **fields)
    operator = console_as("operator")
    operator.open(f"/llmops/promptversion/{candidate.pk}/diff/")
    operator.shot("prompt-diff")
    operator.open("/llmops/promptversion/?prompt__name__exact=explanation")
    _run_action(operator, candidate.pk, "to_production")
    assert "has no finished evaluation" in operator.messages(), "the gate refuses an unevaluated version"
    _passing_evaluations(candidate)
    _run_action(operator, candidate.pk, "to_production")
    assert "is now production" in operator.messages()
    candidate.refresh_from_db()
    assert candidate.label == PromptVersion.Label.PRODUCTION
    operator.shot("prompt-promoted")


def test_operator_creates_and_starts_an_experiment_viewer_cannot(console_as: Callable[[str], Any]) -> None:
    operator = console_as("operator")
    operator.open("/ranking/experiment/add/")
    operator.page.fill("#id_name", "diversity-up")
    operator.page.fill("#id_surface", "home")
    operator.page.fill("#id_variants", '[{"name": "control", "weight": 1, "config": {}},'
                                       ' {"name": "diverse", "weight": 1, "config": {"diversity": 0.6}}]')  # fmt: skip
    operator.page.click("input[name=_save]")
    operator.page.wait_for_selector("ul.messagelist")
    experiment = Experiment.objects.get(name="diversity-up")
    viewer = console_as("viewer")
    viewer.open("/ranking/experiment/")
    assert viewer.page.locator("select[name=action] option[value=start]").count() == 0
    viewer.shot("experiments-refused")
    _run_action(operator, experiment.pk, "start")
    experiment.refresh_from_db()
    assert experiment.status == Experiment.Status.RUNNING
    operator.open(f"/ranking/experiment/{experiment.pk}/change/")
    assert "Wilson 95% intervals" in operator.page.content()
    operator.shot("experiment-running")


def test_roles_are_refused_what_they_may_not_do(console_as: Callable[[str], Any], viewer: Any, browser: Any,
                                                live_server: Any) -> None:  # fmt: skip
    reviewer = console_as("reviewer")
    reviewer.open("/ops/taskrun/")
    assert reviewer.page.locator("#start-job").count() == 0, "only operators start jobs"
    admin = console_as("admin")
    admin.open("/console/dashboard/")
    assert admin.page.locator("#panel-llm figure").count() == 4 and admin.page.locator("section.panel").count() == 9
    admin.shot("dashboard")
    page = browser.new_page()
    page.goto(live_server.url + "/login/")
    page.fill("#id_username", viewer.username)  # staff, but in no role
    page.fill("#id_password", "viewer-password-1")
    page.click("input[type=submit]")
    response = page.goto(live_server.url + "/console/dashboard/")
    assert response is not None and response.status == 403
    page.close()


def _run_action(console: Any, pk: int, action: str) -> None:
    page = console.page
    page.check(f"input[name=_selected_action][value='{pk}']")
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")
    page.wait_for_load_state()


def _passing_evaluations(version: PromptVersion) -> None:
    """Finished evaluation runs at full marks on an ordinary, the red-team and the benign set
    (what `llm_evaluate` leaves after a good run; running the model here would take minutes)."""
    gate = version.prompt.gate or {}
    ordinary = EvalDataset.objects.filter(prompt=version.prompt).exclude(name__in=SAFETY_SETS.values()).first()
    assert ordinary is not None
    EvalRun.objects.create(version=version, dataset=ordinary, status=EvalRun.Status.DONE,
                           scores={metric: 1.0 for metric in gate} or {"schema_valid": 1.0})  # fmt: skip
    for metric, name in SAFETY_SETS.items():
        dataset, _ = EvalDataset.objects.get_or_create(prompt=version.prompt, name=name)
        EvalRun.objects.create(version=version, dataset=dataset, status=EvalRun.Status.DONE, scores={metric: 1.0})


def test_api_docs_and_the_agent_page_work_under_the_content_security_policy(
    console_as: Callable[[str], Any], llm: None, films: list[Any]
) -> None:
    operator = console_as("operator")
    operator.open("/api/docs/")
    operator.page.wait_for_selector(".swagger-ui .info .title")
    operator.page.wait_for_selector(".opblock-tag")  # the schema loaded and its operations are listed
    operator.shot("api-docs")
    operator.open("/api/redoc/")
    operator.page.wait_for_selector("redoc .api-content h1")
    operator.open("/agents/chatsession/try/")
    operator.page.fill("#message", "a scary film from the 80s")
    operator.page.click("#send")
    operator.page.wait_for_selector("#log .msg.you")
    operator.page.wait_for_selector("#log .generated-label", timeout=120_000)  # the streamed reply ended
    operator.shot("agent-try")
