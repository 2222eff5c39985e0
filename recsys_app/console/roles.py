"""The console's roles as Django groups: viewer, reviewer, operator and admin.

A person's rights are the union of their groups. The groups are written from `ROLES` after
every `migrate` (and by `manage.py roles_sync`), so a permission added by a new model reaches
its role without a hand-written data migration. Every console page checks one of these
permissions; `tests/console/test_roles.py` walks the pages as each role.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.db.models import Q

# Apps whose rows every role may look at. `accounts` (API tokens) and `auth` stay with admins.
PRODUCT_APPS = ("catalog", "retrieval", "ranking", "evaluation", "ops", "llmops", "safety", "curation", "agents",
                "django_celery_results")  # fmt: skip
PRIVATE_MODELS = ("safety.deletionrequest",)  # erasure requests name people; admins only

REVIEWER = ("curation.review_draft", "curation.view_reviewaction")
OPERATOR = (
    "curation.publish_draft", "curation.add_brief", "curation.change_brief",
    "ranking.*", "llmops.add_prompt", "llmops.change_prompt", "llmops.add_promptversion",
    "llmops.change_promptversion", "llmops.add_evaldataset", "llmops.change_evaldataset", "llmops.add_evalcase",
    "llmops.change_evalcase", "llmops.delete_evalcase", "llmops.change_route", "llmops.change_evalrun",
    "evaluation.add_evaluationrun", "ops.add_taskrun", "ops.change_taskrun", "catalog.change_item",
    "catalog.change_interactiontype", "catalog.add_interactiontype", "agents.add_chatsession",
)  # fmt: skip

ROLES = ("viewer", "reviewer", "operator", "admin")


def role_permissions(role: str) -> list[Permission]:
    """The permissions a role's group holds (viewing is part of every role)."""
    if role == "admin":
        return list(Permission.objects.all())
    views = Q(content_type__app_label__in=PRODUCT_APPS, codename__startswith="view_")
    for private in PRIVATE_MODELS:
        app_label, model = private.split(".")
        views &= ~Q(content_type__app_label=app_label, content_type__model=model)
    extra = {"viewer": (), "reviewer": REVIEWER, "operator": OPERATOR}[role]
    return list(Permission.objects.filter(views | _named(extra)).select_related("content_type"))


def _named(patterns: Iterable[str]) -> Q:
    """`app.codename` or `app.*` (every permission of the app) as one filter."""
    found = Q(pk__in=[])
    for pattern in patterns:
        app_label, codename = pattern.split(".")
        where = Q(content_type__app_label=app_label)
        found |= where if codename == "*" else where & Q(codename=codename)
    return found


@transaction.atomic
def roles_sync() -> dict[str, int]:
    """Create the role groups and set their permissions to exactly what `ROLES` says."""
    counts = {}
    for role in ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        permissions = role_permissions(role)
        group.permissions.set(permissions)
        counts[role] = len(permissions)
    return counts


def console_user_ensure(*, username: str, password: str, roles: Iterable[str]) -> Any:
    """A staff account holding exactly the given roles (a new one, or an existing one reset)."""
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise ValueError(f"unknown role(s) {', '.join(unknown)}; roles are {', '.join(ROLES)}")
    user, _ = get_user_model().objects.get_or_create(username=username)
    user.is_staff = user.is_active = True
    user.set_password(password)
    user.save()
    user.groups.set(Group.objects.filter(name__in=list(roles)))
    return user


def roles_after_migrate(**kwargs: Any) -> None:
    """post_migrate hook, acting on the signal for the last app: by then every app's
    permissions have been created (Django creates them app by app, in the same signal)."""
    last = list(apps.get_app_configs())[-1]
    if kwargs.get("app_config") is last:
        roles_sync()
