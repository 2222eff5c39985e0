from django.db import migrations

# Collections published before impressions recorded what wrote them: their serving rows get
# the same provenance `collection_publish` now writes (draft, prompt, version, model, writer).
BACKFILL = """
UPDATE retrieval_curatedentry c
SET provenance = jsonb_build_object('draft', d.id, 'prompt', v.prompt_id, 'prompt_version', v.number,
                                    'model', d.model, 'writer', d.writer)
FROM curation_draft d LEFT JOIN llmops_promptversion v ON v.id = d.prompt_version_id
WHERE c.list_key = 'collection:' || d.id AND c.provenance = '{}'::jsonb
"""


class Migration(migrations.Migration):
    dependencies = [
        ("curation", "0003_enrichment_jobs"),
        ("retrieval", "0007_curatedentry_provenance"),
    ]

    operations = [migrations.RunSQL(BACKFILL, migrations.RunSQL.noop)]
