from django.db import migrations

# Starting weights; operators tune them in the console. Negative types count against an item.
DEFAULT_TYPES = [
    ("view", 1.0, "Item was opened or watched briefly"),
    ("click", 2.0, "Item was clicked from a list"),
    ("like", 4.0, "Explicit like or high rating"),
    ("rating", 1.0, "Explicit rating; the value carries the score"),
    ("add_to_cart", 5.0, "Product added to cart"),
    ("share", 5.0, "Item shared"),
    ("purchase", 8.0, "Product bought"),
    ("skip", -1.0, "Item skipped or scrolled past quickly"),
    ("dislike", -4.0, "Explicit dislike or low rating"),
]


def add_types(apps, schema_editor):
    InteractionType = apps.get_model("catalog", "InteractionType")
    for code, weight, description in DEFAULT_TYPES:
        InteractionType.objects.get_or_create(code=code, defaults={"weight": weight, "description": description})


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]
    operations = [migrations.RunPython(add_types, migrations.RunPython.noop)]
