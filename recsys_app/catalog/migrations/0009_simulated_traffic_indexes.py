from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    # Built without blocking event and impression writes on the largest tables.
    atomic = False

    dependencies = [
        ("catalog", "0008_simulated_traffic"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="interaction",
            index=models.Index(condition=models.Q(("simulated", True)), fields=["id"], name="interaction_simulated"),
        ),
        AddIndexConcurrently(
            model_name="impression",
            index=models.Index(condition=models.Q(("simulated", True)), fields=["id"], name="impression_simulated"),
        ),
    ]
