# A running grading job's last heartbeat (its worker renews the lease while it grades).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("grader", "0003_submission_variant"),
    ]

    operations = [
        migrations.AddField(
            model_name="gradingjob",
            name="heartbeat_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
