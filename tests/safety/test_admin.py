"""Console pages of safety settings: every change to a guardrail leaves an audit entry."""

from __future__ import annotations

from typing import Any

from django.test import Client

from recsys_app.safety.models import AuditEntry, Guardrail
from tests.llmops.test_admin import form_data


def test_guardrail_changes_are_audited_from_the_change_page_and_the_list(operator: Any) -> None:
    client = Client()
    client.force_login(operator)
    url = "/safety/guardrail/toxicity/change/"
    before = Guardrail.objects.get(name="toxicity")
    response = client.post(url, {**form_data(client.get(url)), "threshold": "0.42"})
    assert response.status_code == 302, response.content.decode()[:2000]
    entry = AuditEntry.objects.get(action="guardrail.change")
    assert (entry.actor_name, entry.target_type, entry.target_id) == ("op", "safety.Guardrail", "toxicity")
    assert (entry.before, entry.after) == ({"threshold": before.threshold}, {"threshold": 0.42})

    page = client.get("/safety/guardrail/")
    listed = page.context["cl"].formset
    data = {"_save": "Save"}
    for form in [listed.management_form, *listed.forms]:
        for field in form:
            value = field.value()
            if value is not None and value is not False:
                data[field.html_name] = "on" if value is True else value
    row = next(form.prefix for form in listed.forms if form.instance.pk == "banned_terms")
    data.pop(f"{row}-enabled")  # untick "enabled" in the list
    assert client.post("/safety/guardrail/", data).status_code == 302
    listed_entry = AuditEntry.objects.filter(action="guardrail.change", target_id="banned_terms").get()
    assert (listed_entry.before, listed_entry.after) == ({"enabled": True}, {"enabled": False})
    assert not Guardrail.objects.get(name="banned_terms").enabled
    assert AuditEntry.objects.filter(action="guardrail.change").count() == 2, "rows left as they were: no entry"
