"""Audit entries of one change share a change id, and outcomes get the names people read.

`change_id` joins a change's previews and its confirm, so the log shows one entry per change
with its previews folded under it. Entries written before it keep "" (each stands alone) and
their hashes: the chain hashes `change_id` only when it holds a value
(policies/audit_integrity.py, HASHED_WHEN_SET), so verify_audit passes for them unchanged.
Nothing here updates an entry, so the append-only triggers stay in place throughout; on
SQLite, adding a column may rebuild the table, which drops its triggers, so they are made
again last (idempotent on PostgreSQL).
"""

from django.db import migrations, models

from policies.audit_integrity import append_only_guard_create


def guard_create(apps, schema_editor):
    append_only_guard_create(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("policies", "0017_coverage_enforced"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditentry",
            name="change_id",
            field=models.CharField(blank=True, db_index=True, max_length=32),
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="outcome",
            field=models.CharField(
                choices=[
                    ("applied", "Applied"),
                    ("dry_run", "Previewed"),
                    ("failed", "Failed"),
                    ("denied", "Refused"),
                    ("conflict", "Failed: conflict"),
                    ("rolled_back", "Restored (rolled back)"),
                    ("partial", "Half done"),
                    ("unknown", "Unknown: no answer"),
                ],
                max_length=16,
            ),
        ),
        migrations.RunPython(guard_create, migrations.RunPython.noop),
    ]
