# The whole library's facet counts, kept as the filing changes (a FilingCount model):
# triggers on the tables that file cases (tags, keywords, difficulty) add one to a label's
# count for each row inserted and take one away for each row deleted. 0015 drops them all:
# the library counts with grouped queries now.

from django.db import migrations, models

# (table, label prefix, column)
FILED_BY = [
    ("cases_case_tags", "t", "tag_id"),
    ("cases_case_keywords", "k", "keyword_id"),
    ("cases_casedifficulty", "d", "level"),
]
COUNTED = "cases_filingcount"

POSTGRES_FUNCTION = f"""
CREATE FUNCTION cases_filing_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE {COUNTED} SET n = n - 1
        WHERE label = TG_ARGV[0] || (to_jsonb(OLD) ->> TG_ARGV[1]);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO {COUNTED} (label, n) VALUES (TG_ARGV[0] || (to_jsonb(NEW) ->> TG_ARGV[1]), 1)
        ON CONFLICT (label) DO UPDATE SET n = {COUNTED}.n + 1;
    END IF;
    RETURN NULL;
END $$
"""


def _sqlite_triggers(table: str, prefix: str, column: str) -> list[str]:
    added = (
        f"INSERT INTO {COUNTED} (label, n) VALUES ('{prefix}' || new.{column}, 1) "
        f"ON CONFLICT (label) DO UPDATE SET n = n + 1;"
    )
    removed = f"UPDATE {COUNTED} SET n = n - 1 WHERE label = '{prefix}' || old.{column};"
    name = f"{table}_counted"
    return [
        f"CREATE TRIGGER {name}_ai AFTER INSERT ON {table} BEGIN {added} END",
        f"CREATE TRIGGER {name}_ad AFTER DELETE ON {table} BEGIN {removed} END",
        f"CREATE TRIGGER {name}_au AFTER UPDATE OF {column} ON {table} "
        f"BEGIN {removed} {added} END",
    ]


def filing_counts_create(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_FUNCTION)
    for table, prefix, column in FILED_BY:
        if vendor == "postgresql":
            schema_editor.execute(
                f"CREATE TRIGGER {table}_counted AFTER INSERT OR DELETE OR UPDATE OF {column} "
                f"ON {table} FOR EACH ROW EXECUTE FUNCTION "
                f"cases_filing_counted('{prefix}', '{column}')"
            )
        else:
            for statement in _sqlite_triggers(table, prefix, column):
                schema_editor.execute(statement)
        schema_editor.execute(
            f"INSERT INTO {COUNTED} (label, n) "
            f"SELECT '{prefix}' || {column}, COUNT(*) FROM {table} GROUP BY {column}"
        )


def filing_counts_drop(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for table, _, _ in FILED_BY:
        if vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER {table}_counted ON {table}")
        else:
            for suffix in ("ai", "ad", "au"):
                schema_editor.execute(f"DROP TRIGGER {table}_counted_{suffix}")
    if vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION cases_filing_counted()")


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0012_search_facets_spaced"),
    ]

    operations = [
        migrations.CreateModel(
            name="FilingCount",
            fields=[
                ("label", models.CharField(max_length=24, primary_key=True, serialize=False)),
                ("n", models.IntegerField(default=0)),
            ],
        ),
        migrations.RunPython(filing_counts_create, filing_counts_drop),
    ]
