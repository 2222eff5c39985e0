import django.contrib.postgres.indexes
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    # Built without blocking impression writes on a large table (CREATE INDEX CONCURRENTLY).
    atomic = False

    dependencies = [
        ("catalog", "0006_impression_attribution"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="impression",
            index=django.contrib.postgres.indexes.GinIndex(
                condition=models.Q(("assignments", {}), _negated=True), fields=["assignments"],
                name="impression_assignments",
            ),
        ),
    ]
