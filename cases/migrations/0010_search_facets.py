# Each search document held its case's filing (tags, keywords, difficulty) as tokens, which a
# search's facet counts were taken from. Existing documents are filled here. 0015 drops the
# column: the facets are counted by grouped queries now.
#
# The column is added by ALTER TABLE: Django's SQLite schema editor would copy the table to add
# a NOT NULL column, and the copy would lose the triggers that feed the FTS5 tables (0005).
#
# SQLite also gets an index of (case_id, facets): a document's row holds its texts, a few KB,
# and the new column comes last, so reading it from the row walks the row's overflow pages.

from collections import defaultdict

from django.db import migrations, models

BATCH = 500


def facets_text(*, tags, keywords, level) -> str:
    """A case's filing as this migration stored it ("t1 k2 d3"; 0012 padded it with spaces)."""
    tokens = [f"t{pk}" for pk in tags] + [f"k{pk}" for pk in keywords]
    if level is not None:
        tokens.append(f"d{level}")
    return " ".join(tokens)


def facets_fill(apps, schema_editor):
    Case = apps.get_model("cases", "Case")
    CaseDifficulty = apps.get_model("cases", "CaseDifficulty")
    SearchDocument = apps.get_model("cases", "SearchDocument")
    tags, keywords = defaultdict(list), defaultdict(list)
    for case_id, tag_id in Case.tags.through.objects.values_list("case_id", "tag_id"):
        tags[case_id].append(tag_id)
    for case_id, keyword_id in Case.keywords.through.objects.values_list("case_id", "keyword_id"):
        keywords[case_id].append(keyword_id)
    levels = dict(CaseDifficulty.objects.values_list("case_id", "level"))
    documents = list(SearchDocument.objects.only("pk"))
    for document in documents:
        pk = document.pk
        document.facets = facets_text(tags=tags[pk], keywords=keywords[pk], level=levels.get(pk))
    SearchDocument.objects.bulk_update(documents, ["facets"], batch_size=BATCH)


FACETS_INDEX = "cases_searchdocument_facets_idx"


def facets_index_create(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(
            f"CREATE INDEX {FACETS_INDEX} ON cases_searchdocument (case_id, facets)"
        )


def facets_index_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(f"DROP INDEX {FACETS_INDEX}")


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0009_search_vectors_inline"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    "ALTER TABLE cases_searchdocument ADD COLUMN facets text NOT NULL DEFAULT ''",
                    "ALTER TABLE cases_searchdocument DROP COLUMN facets",
                )
            ],
            state_operations=[
                migrations.AddField(
                    model_name="searchdocument",
                    name="facets",
                    field=models.TextField(blank=True, default=""),
                )
            ],
        ),
        migrations.RunPython(facets_fill, migrations.RunPython.noop),
        migrations.RunPython(facets_index_create, facets_index_drop),
    ]
