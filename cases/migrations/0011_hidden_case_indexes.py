# PostgreSQL indexes for the cases hidden from a visitor, which the library's counts then
# took away from the whole library's (status before or after "published", a range of the
# library-order index each):
#
# - The library-order index also holds each case's id (INCLUDE), so that they are found from
#   the index alone, without a visit to each hidden case's row.
# - The search documents' filing is indexed by case (case_id INCLUDE facets), so that the
#   hidden cases' filing is read from that index rather than from each document's wide row.
#   SQLite has the like (0010).
#
# 0015 drops both: the library counts the visible cases directly now.
#
# SQLite's indexes hold the row id already: nothing to do there.

from django.db import migrations

COLUMNS = "(status, is_sample, year DESC NULLS LAST, title)"
FILING = "cases_searchdocument_filing_idx"


def _indexes(schema_editor, *, covering: bool) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    include = " INCLUDE (id)" if covering else ""
    schema_editor.execute("DROP INDEX cases_case_library_order_idx")
    schema_editor.execute(
        f"CREATE INDEX cases_case_library_order_idx ON cases_case {COLUMNS}{include}"
    )
    if covering:
        schema_editor.execute(
            f"CREATE INDEX {FILING} ON cases_searchdocument (case_id) INCLUDE (facets)"
        )
    else:
        schema_editor.execute(f"DROP INDEX {FILING}")


def hidden_indexes_create(apps, schema_editor):
    _indexes(schema_editor, covering=True)


def hidden_indexes_drop(apps, schema_editor):
    _indexes(schema_editor, covering=False)


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0010_search_facets"),
    ]

    operations = [
        migrations.RunPython(hidden_indexes_create, hidden_indexes_drop),
    ]
