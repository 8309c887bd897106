"""Joins main's IdempotencyKey move (0005_idempotency_key) and core's status index (0005_status_index_instead_of_phase)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0005_idempotency_key"),
        ("jobs", "0005_status_index_instead_of_phase"),
    ]

    operations = []
