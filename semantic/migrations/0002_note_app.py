"""The note foreign key now names `notes.Note` (state only: same table, same constraint)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("semantic", "0001_initial"),
        ("notes", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="noteembedding",
                    name="note",
                    field=models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name="embedding", serialize=False, to="notes.note"),
                ),
            ],
            database_operations=[],
        ),
    ]
