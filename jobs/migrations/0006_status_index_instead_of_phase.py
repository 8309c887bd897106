"""Index the status again and drop the generated `phase` column.

`phase` made the claim a HOT update, which no realistic workload could feel
(docs/PERFORMANCE.md), while a plain `filter(status=...)` silently lost its
index. Dropping a column does not rewrite the table on PostgreSQL.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0005_idempotency_key"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="backgroundjob",
            name="bgjob_phase_created_idx",
        ),
        migrations.RemoveIndex(
            model_name="backgroundjob",
            name="bgjob_user_type_active_idx",
        ),
        migrations.RemoveField(
            model_name="backgroundjob",
            name="phase",
        ),
        migrations.AddIndex(
            model_name="backgroundjob",
            index=models.Index(fields=["status", "-created_at"], name="bgjob_status_created_idx"),
        ),
        migrations.AddIndex(
            model_name="backgroundjob",
            index=models.Index(
                condition=models.Q(("status__in", ("queued", "running"))),
                fields=["user", "job_type"],
                name="bgjob_user_type_active_idx",
            ),
        ),
    ]
