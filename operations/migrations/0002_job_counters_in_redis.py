"""/metrics counts jobs in Redis as they finish (operations.job_counters): the folded totals table goes."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('operations', '0001_initial'),
    ]

    operations = [
        migrations.DeleteModel(
            name='JobStatsTotal',
        ),
    ]
