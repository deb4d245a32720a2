# Notebook submissions: the .ipynb as sent, and where each of its code cells starts in `code`.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("grader", "0004_job_heartbeat"),
    ]

    operations = [
        migrations.AddField(
            model_name="submission",
            name="notebook",
            field=models.JSONField(blank=True, help_text="The Jupyter notebook as sent, if one was.", null=True),
        ),
        migrations.AddField(
            model_name="submission",
            name="cell_starts",
            field=models.JSONField(blank=True, default=list),
        ),
    ]
