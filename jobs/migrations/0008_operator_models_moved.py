"""The audit list, the dashboard's rollups and the admin's page entries moved to the operations app: state only, the tables stay."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0007_operator_console"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(
                    name="JobStatsBucket",
                ),
                migrations.DeleteModel(
                    name="JobStatsTotal",
                ),
                migrations.RemoveField(
                    model_name="operatoraction",
                    name="actor",
                ),
                migrations.DeleteModel(
                    name="JobDashboard",
                ),
                migrations.DeleteModel(
                    name="JobHealth",
                ),
                migrations.DeleteModel(
                    name="OperatorAction",
                ),
            ],
            database_operations=[],
        ),
    ]
