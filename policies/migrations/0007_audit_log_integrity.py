"""The audit log becomes append-only in the database and a hash chain.

An account's deletion no longer rewrites its entries (the user link was SET_NULL); each entry
gains the hash of the one before it and its own, the entries already there hashed here in id
order; then the triggers of policies/audit_integrity.py refuse UPDATE, DELETE and TRUNCATE.
The triggers come last: the hashing updates every entry, and on SQLite altering the table
rebuilds it, which drops any trigger on it.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from policies.audit_integrity import (
    HASHED_FIELDS,
    append_only_guard_create,
    append_only_guard_drop,
    audit_entry_hash,
)


def hash_existing_entries(apps, schema_editor):
    """Chain the entries written before the chain, oldest id first (as the writer would have)."""
    AuditEntry = apps.get_model("policies", "AuditEntry")
    previous_hash, batch = "", []
    rows = AuditEntry.objects.order_by("id").values("id", *HASHED_FIELDS)
    for row in rows.iterator(chunk_size=1000):
        entry_hash = audit_entry_hash(row, previous_hash)
        batch.append(
            AuditEntry(id=row["id"], previous_hash=previous_hash, entry_hash=entry_hash)
        )
        previous_hash = entry_hash
        if len(batch) == 1000:
            AuditEntry.objects.bulk_update(batch, ["previous_hash", "entry_hash"])
            batch = []
    AuditEntry.objects.bulk_update(batch, ["previous_hash", "entry_hash"])


def forget_deleted_accounts(apps, schema_editor):
    """Going back: the user link regains its constraint, which an account deleted since
    would violate; SET_NULL is what deleting it did then."""
    AuditEntry = apps.get_model("policies", "AuditEntry")
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    AuditEntry.objects.exclude(user_id__in=User.objects.values("pk")).exclude(
        user_id=None
    ).update(user_id=None)


def guard_create(apps, schema_editor):
    append_only_guard_create(schema_editor.connection)


def guard_drop(apps, schema_editor):
    append_only_guard_drop(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("policies", "0006_passwordchangerequired"),
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
        migrations.RunPython(migrations.RunPython.noop, forget_deleted_accounts),
        migrations.AddField(
            model_name="auditentry",
            name="previous_hash",
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name="auditentry",
            name="entry_hash",
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.RunPython(hash_existing_entries, migrations.RunPython.noop),
        migrations.RunPython(guard_create, guard_drop),
    ]
