"""Note went to `notes`, IdempotencyKey to `jobs`: the project package keeps no model.

State only: both tables stay where they are, now owned by the new apps.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("scribes", "0002_idempotency_key"),
        ("notes", "0001_initial"),
        ("jobs", "0005_idempotency_key"),
        ("reminders", "0002_note_app"),
        ("semantic", "0002_note_app"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="Note"), migrations.DeleteModel(name="IdempotencyKey")],
            database_operations=[],
        ),
    ]
