# Indexes for the library at 10,000 cases (bench/library.py), outside the model state like
# 0007's, as they are the library's concern:
#
# - The library order is (is_sample, year newest first, title): an index with the year
#   descending hands out the first page without sorting every visible case. It replaces
#   0007's, which still serves counting visible cases. PostgreSQL puts NULLs first in a
#   descending index unless told; SQLite puts them last and takes no NULLS clause.
# - Filters by tag and keyword read (tag, case) and (keyword, case) pairs: with both in one
#   index, without a lookup in the table for each pair.
# - PostgreSQL's GIN indexes on the search vectors: without fastupdate. Its pending list
#   (entries not yet merged, up to 4 MB, as after a rebuild of the search index) made the
#   planner cost the index as slow and choose a sequential scan that decompresses every
#   document's vector.

from django.db import migrations

ORDER = {
    "sqlite": "(status, is_sample, year DESC, title)",
    "postgresql": "(status, is_sample, year DESC NULLS LAST, title)",
}
INDEXES = [
    "CREATE INDEX cases_case_tags_tag_case_idx ON cases_case_tags (tag_id, case_id)",
    "CREATE INDEX cases_case_keywords_keyword_case_idx "
    "ON cases_case_keywords (keyword_id, case_id)",
]
GIN = ["cases_search_vector_gin", "cases_unknown_vector_gin"]


def _order_index(columns: str) -> str:
    return f"CREATE INDEX cases_case_library_order_idx ON cases_case {columns}"


def library_indexes_create(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = [_order_index(ORDER.get(vendor, ORDER["sqlite"]))]
    statements += ["DROP INDEX cases_case_library_idx", *INDEXES]
    if vendor == "postgresql":
        for name in GIN:
            statements += [
                f"ALTER INDEX {name} SET (fastupdate = off)",
                f"SELECT gin_clean_pending_list('{name}'::regclass)",
            ]
    for statement in statements:
        schema_editor.execute(statement)


def library_indexes_drop(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = [
        "DROP INDEX cases_case_library_order_idx",
        "CREATE INDEX cases_case_library_idx ON cases_case (status, is_sample, year, title)",
        "DROP INDEX cases_case_tags_tag_case_idx",
        "DROP INDEX cases_case_keywords_keyword_case_idx",
    ]
    if vendor == "postgresql":
        statements += [f"ALTER INDEX {name} RESET (fastupdate)" for name in GIN]
    for statement in statements:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0007_library_indexes"),
    ]

    operations = [
        migrations.RunPython(library_indexes_create, library_indexes_drop),
    ]
