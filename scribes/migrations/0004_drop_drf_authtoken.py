"""API tokens moved to django-rest-knox (hashed, expiring): drop DRF's clear-text token table.

Every token issued before this migration stops working; clients log in again
(POST /auth/token). Reversing recreates nothing: the old keys are gone on purpose.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("scribes", "0003_models_moved_to_apps"),
        ("knox", "0009_extend_authtoken_field"),
    ]

    operations = [
        migrations.RunSQL("DROP TABLE IF EXISTS authtoken_token", reverse_sql=migrations.RunSQL.noop),
    ]
