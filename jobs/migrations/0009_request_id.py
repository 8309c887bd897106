"""Each job keeps the X-Request-ID of the request that started it."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0008_operator_models_moved'),
    ]

    operations = [
        migrations.AddField(
            model_name='backgroundjob',
            name='request_id',
            field=models.CharField(blank=True, db_default='', default='', max_length=128),
        ),
    ]
