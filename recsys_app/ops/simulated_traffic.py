"""What simulated traffic left behind (lib/traffic.py marks it), counted and purged.

The purge is one action (console: "Simulated traffic" on the dashboard; shell: `manage.py
simulate --purge`): in one transaction it deletes every marked event, impression, experiment
exposure and chat session, then the end users that simulated traffic created, and audits
what it removed. Real users and their own events are untouched, even when a simulator
played them (the MovieLens demo's users); statistics and models computed since are rebuilt by
their usual jobs, which never read simulated rows unless SIMULATED_TRAFFIC_IN_TRAINING."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from django.db import connection, transaction

from recsys_app.catalog.models import EndUser
from recsys_app.ranking.experiments import exposures_forget
from recsys_app.safety.audit import audit_record

_TABLES = {
    "events": "catalog_interaction",
    "impressions": "catalog_impression",
    "exposures": "ranking_experimentexposure",
    "chat_sessions": "agents_chatsession",
}


@dataclass
class SimulatedCounts:
    events: int = 0
    impressions: int = 0
    exposures: int = 0
    chat_sessions: int = 0
    users: int = 0

    @property
    def total(self) -> int:
        return sum(asdict(self).values())


def simulated_counts() -> SimulatedCounts:
    """Rows marked simulated (the partial indexes on events and impressions answer these)."""
    tables = [*_TABLES.values(), EndUser._meta.db_table]
    with connection.cursor() as cursor:  # one statement: the dashboard asks on every view
        cursor.execute("SELECT " + ", ".join(f"(SELECT count(*) FROM {table} WHERE simulated)" for table in tables))
        return SimulatedCounts(*cursor.fetchone())


def simulated_traffic_purge(*, by: Any = None) -> SimulatedCounts:
    """Delete everything simulated traffic wrote; returns what was deleted."""
    from agents.models import ChatSession

    removed = SimulatedCounts()
    with transaction.atomic():
        with connection.cursor() as cursor:
            for name in ("events", "impressions", "exposures"):
                cursor.execute(f"DELETE FROM {_TABLES[name]} WHERE simulated")
                setattr(removed, name, cursor.rowcount)
        removed.chat_sessions = ChatSession.objects.filter(simulated=True).delete()[1].get(ChatSession._meta.label, 0)
        # Their remaining rows (profiles, consents, chats) go with them through Django's cascade.
        removed.users = EndUser.objects.filter(simulated=True).delete()[1].get(EndUser._meta.label, 0)
        audit_record(actor=by, action="simulated_traffic.purge", target=("simulated_traffic", "all"),
                     summary=", ".join(f"{count} {name}" for name, count in asdict(removed).items()),
                     after=asdict(removed))  # fmt: skip
    exposures_forget()  # else this process would not log a purged unit's next exposure
    return removed
