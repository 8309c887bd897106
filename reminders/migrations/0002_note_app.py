"""The note foreign key now names `notes.Note` (state only: same table, same constraint)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reminders", "0001_initial"),
        ("notes", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="reminder",
                    name="note",
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="reminders", to="notes.note"),
                ),
            ],
            database_operations=[],
        ),
    ]
