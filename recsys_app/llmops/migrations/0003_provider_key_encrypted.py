"""Provider keys were stored in clear: encrypt the stored ones, then drop the clear column."""

from django.db import migrations, models


def encrypt_keys(apps, schema_editor):
    from recsys_app.llmops.secrets import secret_encrypt

    Provider = apps.get_model("llmops", "Provider")
    for provider in Provider.objects.exclude(api_key=""):
        provider.api_key_encrypted = secret_encrypt(provider.api_key)
        provider.save(update_fields=["api_key_encrypted"])


class Migration(migrations.Migration):
    dependencies = [("llmops", "0002_trace_subject_index")]

    operations = [
        migrations.AddField(
            model_name="provider",
            name="api_key_encrypted",
            field=models.TextField(
                blank=True, editable=False, help_text="HTTP: the key, encrypted (llmops/secrets.py); never shown."
            ),
        ),
        migrations.RunPython(encrypt_keys, migrations.RunPython.noop),
        migrations.RemoveField(model_name="provider", name="api_key"),
        migrations.AlterField(
            model_name="provider",
            name="api_key_env",
            field=models.CharField(
                blank=True, help_text="HTTP: an environment variable LLM_KEY_<NAME> holding the key.", max_length=100
            ),
        ),
    ]
