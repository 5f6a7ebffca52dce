# PostgreSQL keeps the search vectors in the table's rows (storage MAIN) rather than in its
# TOAST table. A document's row (its texts and two vectors, some 4 KB) is over the TOAST
# threshold, and PostgreSQL moved the vectors out, uncompressed, as they compress poorly: every
# match then cost a TOAST lookup to rank or recheck it. With MAIN the texts go to TOAST
# first (read only for the 25 highlighted results). Existing rows are rewritten so their vectors move in. SQLite:
# nothing to do.

from django.db import migrations

COLUMNS = ("search_vector", "unknown_vector")


def _storage_set(schema_editor, storage: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    columns = ", ".join(f"ALTER COLUMN {name} SET STORAGE {storage}" for name in COLUMNS)
    schema_editor.execute(f"ALTER TABLE cases_searchdocument {columns}")
    # A stored generated column is computed afresh, and stored anew, when its row changes.
    schema_editor.execute("UPDATE cases_searchdocument SET title = title || ''")


def vectors_inline(apps, schema_editor):
    _storage_set(schema_editor, "MAIN")


def vectors_toasted(apps, schema_editor):
    _storage_set(schema_editor, "EXTENDED")


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0008_library_scale"),
    ]

    operations = [
        migrations.RunPython(vectors_inline, vectors_toasted),
    ]
