# The library counts its facets with grouped queries over the tables that file cases
# (cases.library.facets), so what kept counts on the side goes:
#
# - FilingCount and the triggers on the tag, keyword and difficulty tables that kept it (0013);
# - the search documents' filing column (0010, 0012) and the indexes that held it (0010 on
#   SQLite, 0011 on PostgreSQL).
#
# The library-order index moves into the model state (Case.Meta.indexes), plain: its INCLUDE
# (id) on PostgreSQL (0011) served a query that is gone.
#
# The filing column is dropped by ALTER TABLE, as 0010 added it: Django's SQLite schema
# editor would copy the table to add it back on the way down, and the copy would lose the
# triggers that feed the FTS5 tables (0005).

from django.db import migrations, models

FILED_BY = [  # (table, label prefix, column), as 0013 counted them
    ("cases_case_tags", "t", "tag_id"),
    ("cases_case_keywords", "k", "keyword_id"),
    ("cases_casedifficulty", "d", "level"),
]
POSTGRES_FUNCTION = """
CREATE FUNCTION cases_filing_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE cases_filingcount SET n = n - 1
        WHERE label = TG_ARGV[0] || (to_jsonb(OLD) ->> TG_ARGV[1]);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO cases_filingcount (label, n)
        VALUES (TG_ARGV[0] || (to_jsonb(NEW) ->> TG_ARGV[1]), 1)
        ON CONFLICT (label) DO UPDATE SET n = cases_filingcount.n + 1;
    END IF;
    RETURN NULL;
END $$
"""


def filing_triggers_drop(apps, schema_editor):
    postgres = schema_editor.connection.vendor == "postgresql"
    for table, _, _ in FILED_BY:
        if postgres:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_counted ON {table}")
        else:
            for suffix in ("ai", "ad", "au"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_counted_{suffix}")
    if postgres:
        schema_editor.execute("DROP FUNCTION IF EXISTS cases_filing_counted()")


def filing_triggers_create(apps, schema_editor):
    """0013's triggers and counts, for a migration back."""
    postgres = schema_editor.connection.vendor == "postgresql"
    if postgres:
        schema_editor.execute(POSTGRES_FUNCTION)
    for table, prefix, column in FILED_BY:
        if postgres:
            schema_editor.execute(
                f"CREATE TRIGGER {table}_counted AFTER INSERT OR DELETE OR UPDATE OF {column} "
                f"ON {table} FOR EACH ROW EXECUTE FUNCTION "
                f"cases_filing_counted('{prefix}', '{column}')"
            )
        else:
            added = (
                f"INSERT INTO cases_filingcount (label, n) VALUES ('{prefix}' || new.{column}, 1) "
                "ON CONFLICT (label) DO UPDATE SET n = n + 1;"
            )
            removed = (
                f"UPDATE cases_filingcount SET n = n - 1 WHERE label = '{prefix}' || old.{column};"
            )
            name = f"{table}_counted"
            schema_editor.execute(
                f"CREATE TRIGGER {name}_ai AFTER INSERT ON {table} BEGIN {added} END"
            )
            schema_editor.execute(
                f"CREATE TRIGGER {name}_ad AFTER DELETE ON {table} BEGIN {removed} END"
            )
            schema_editor.execute(
                f"CREATE TRIGGER {name}_au AFTER UPDATE OF {column} ON {table} "
                f"BEGIN {removed} {added} END"
            )
        schema_editor.execute(
            f"INSERT INTO cases_filingcount (label, n) "
            f"SELECT '{prefix}' || {column}, COUNT(*) FROM {table} GROUP BY {column}"
        )


def old_indexes_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS cases_searchdocument_filing_idx")
    else:
        schema_editor.execute("DROP INDEX IF EXISTS cases_searchdocument_facets_idx")
    schema_editor.execute("DROP INDEX IF EXISTS cases_case_library_order_idx")


def old_indexes_create(apps, schema_editor):
    """0008's library-order index (with 0011's INCLUDE on PostgreSQL) for a migration back;
    the filing indexes come back with the column, below."""
    if schema_editor.connection.vendor == "postgresql":
        columns = "(status, is_sample, year DESC NULLS LAST, title) INCLUDE (id)"
    else:
        columns = "(status, is_sample, year DESC, title)"
    schema_editor.execute(f"CREATE INDEX cases_case_library_order_idx ON cases_case {columns}")


def filing_indexes_create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX cases_searchdocument_filing_idx "
            "ON cases_searchdocument (case_id) INCLUDE (facets)"
        )
    else:
        schema_editor.execute(
            "CREATE INDEX cases_searchdocument_facets_idx ON cases_searchdocument (case_id, facets)"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0013_filing_counts"),
    ]

    operations = [
        migrations.RunPython(filing_triggers_drop, filing_triggers_create),
        migrations.DeleteModel(name="FilingCount"),
        # Backwards the column comes back empty: `manage.py reindex_search` fills it.
        migrations.RunPython(migrations.RunPython.noop, filing_indexes_create),
        migrations.RunPython(old_indexes_drop, old_indexes_create),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    "ALTER TABLE cases_searchdocument DROP COLUMN facets",
                    "ALTER TABLE cases_searchdocument ADD COLUMN facets text NOT NULL DEFAULT ''",
                )
            ],
            state_operations=[migrations.RemoveField(model_name="searchdocument", name="facets")],
        ),
        migrations.AddIndex(
            model_name="case",
            index=models.Index(
                fields=["status", "is_sample", "-year", "title"],
                name="cases_case_library_order_idx",
            ),
        ),
    ]
