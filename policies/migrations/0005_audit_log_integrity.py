"""The audit log becomes append-only in the database itself.

An account's deletion no longer rewrites its entries (the user link was SET_NULL), then the
triggers of policies/audit_integrity.py refuse UPDATE, DELETE and TRUNCATE. The triggers come
last: on SQLite, altering the table rebuilds it, which would drop them.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from policies.audit_integrity import append_only_guard_create, append_only_guard_drop


def guard_create(apps, schema_editor):
    append_only_guard_create(schema_editor.connection)


def guard_drop(apps, schema_editor):
    append_only_guard_drop(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("policies", "0004_syncrun_watch_resume"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditentry",
            name="user",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.RunPython(guard_create, guard_drop),
    ]
