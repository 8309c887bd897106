"""The operator models, moved from the jobs app with their tables (jobs_*): state only."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("jobs", "0008_operator_models_moved"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="JobDashboard",
                    fields=[],
                    options={
                        "verbose_name": "operator dashboard",
                        "verbose_name_plural": "operator dashboard",
                        "proxy": True,
                        "indexes": [],
                        "constraints": [],
                    },
                    bases=("jobs.backgroundjob",),
                ),
                migrations.CreateModel(
                    name="JobHealth",
                    fields=[],
                    options={
                        "verbose_name": "job health",
                        "verbose_name_plural": "job health",
                        "proxy": True,
                        "indexes": [],
                        "constraints": [],
                    },
                    bases=("jobs.backgroundjob",),
                ),
                migrations.CreateModel(
                    name="JobStatsBucket",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("span", models.PositiveIntegerField(default=300)),
                        ("start", models.DateTimeField()),
                        ("queue", models.CharField(max_length=64)),
                        ("job_type", models.CharField(max_length=64)),
                        ("completed", models.PositiveIntegerField(default=0)),
                        ("failed", models.PositiveIntegerField(default=0)),
                        ("wait_histogram", models.JSONField(default=list)),
                        ("run_histogram", models.JSONField(default=list)),
                        ("wait_seconds", models.FloatField(default=0.0)),
                        ("run_seconds", models.FloatField(default=0.0)),
                    ],
                    options={
                        "db_table": "jobs_jobstatsbucket",
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("span", "start", "queue", "job_type"), name="jobstats_bucket_unique"
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="JobStatsTotal",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("queue", models.CharField(max_length=64)),
                        ("job_type", models.CharField(max_length=64)),
                        ("completed", models.PositiveBigIntegerField(default=0)),
                        ("failed", models.PositiveBigIntegerField(default=0)),
                        ("wait_histogram", models.JSONField(default=list)),
                        ("run_histogram", models.JSONField(default=list)),
                        ("wait_seconds", models.FloatField(default=0.0)),
                        ("run_seconds", models.FloatField(default=0.0)),
                        ("folded_until", models.DateTimeField(blank=True, null=True)),
                    ],
                    options={
                        "db_table": "jobs_jobstatstotal",
                        "constraints": [
                            models.UniqueConstraint(fields=("queue", "job_type"), name="jobstats_total_unique")
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="OperatorAction",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("at", models.DateTimeField(auto_now_add=True, db_index=True)),
                        ("source", models.CharField(default="admin", max_length=32)),
                        ("action", models.CharField(max_length=64)),
                        ("target", models.CharField(blank=True, default="", max_length=255)),
                        ("count", models.PositiveIntegerField(default=0)),
                        ("detail", models.TextField(blank=True, default="")),
                        (
                            "actor",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "jobs_operatoraction",
                        "ordering": ["-at", "-id"],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
