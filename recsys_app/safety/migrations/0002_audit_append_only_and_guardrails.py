from django.db import migrations

# The audit log is append-only in the database itself, whatever code or console does.
APPEND_ONLY = """
CREATE FUNCTION safety_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % refused on entry %', TG_OP, OLD.id;
END $$;
CREATE TRIGGER safety_audit_append_only BEFORE UPDATE OR DELETE ON safety_auditentry
    FOR EACH ROW EXECUTE FUNCTION safety_audit_append_only();
"""
DROP = """
DROP TRIGGER safety_audit_append_only ON safety_auditentry;
DROP FUNCTION safety_audit_append_only();
"""


def guardrail_rows(apps, schema_editor):
    """One row per guardrail, with its defaults, so operators find every knob in the console."""
    from recsys_app.safety.guardrails import DEFAULTS

    Guardrail = apps.get_model("safety", "Guardrail")
    for name, default in DEFAULTS.items():
        Guardrail.objects.get_or_create(
            name=name,
            defaults={"action": str(default.action), "on_input": default.on_input, "on_output": default.on_output,
                      "threshold": default.threshold},
        )  # fmt: skip


class Migration(migrations.Migration):
    dependencies = [("safety", "0001_initial")]

    operations = [
        migrations.RunSQL(APPEND_ONLY, DROP),
        migrations.RunPython(guardrail_rows, migrations.RunPython.noop),
    ]
