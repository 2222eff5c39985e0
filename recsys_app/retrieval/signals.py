"""What retrieval announces to the apps built on it (ranking keeps candidate pools fresh)."""

from django.dispatch import Signal

# Sent after users' taste vectors were recomputed from new events; kwargs: user_ids.
user_vectors_refreshed = Signal()
# Sent after a newly trained collaborative model became the active one; kwargs: model_id.
collaborative_model_activated = Signal()
