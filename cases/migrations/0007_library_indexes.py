# The library lists and counts visible cases (status, is_sample) in its default order
# (is_sample, year, title) on every page. Without an index each page reads every case row,
# whole texts included; with this narrow one, counts and the first page read the index only.
# Plain SQL, outside the model state, because the Case model's Meta belongs to the case
# module: the index is the library's concern. The same statement works on SQLite and
# PostgreSQL.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("cases", "0006_conference"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX cases_case_library_idx "
            "ON cases_case (status, is_sample, year, title)",
            "DROP INDEX cases_case_library_idx",
        ),
    ]
