# Key Object Selection documents received with a study (cases.inbox.keyobjects), and the
# inbox study's notes, where their titles and comments go.

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0024_comment_view_query_longer"),
    ]

    operations = [
        migrations.AddField(
            model_name="inboxstudy",
            name="notes",
            field=models.TextField(
                blank=True,
                help_text=(
                    "From the sender's key object selections (title and comment), de-identified."
                ),
                verbose_name="notes for the author",
            ),
        ),
        migrations.CreateModel(
            name="InboxKeyObject",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "key",
                    models.CharField(
                        help_text="De-identified SOPInstanceUID.", max_length=64, unique=True
                    ),
                ),
                (
                    "study_key",
                    models.CharField(
                        db_index=True, help_text="De-identified StudyInstanceUID.", max_length=64
                    ),
                ),
                ("title", models.CharField(blank=True, max_length=200)),
                ("comment", models.TextField(blank=True)),
                ("pending", models.JSONField(default=dict)),
                (
                    "selected",
                    models.PositiveIntegerField(default=0, help_text="Instances it selects."),
                ),
                (
                    "calling_ae",
                    models.CharField(blank=True, max_length=64, verbose_name="sending AE"),
                ),
                ("received", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "noted",
                    models.DateTimeField(
                        blank=True,
                        help_text="When its title and comment went into the notes.",
                        null=True,
                    ),
                ),
            ],
            options={"verbose_name": "key object selection", "ordering": ["received", "id"]},
        ),
    ]
