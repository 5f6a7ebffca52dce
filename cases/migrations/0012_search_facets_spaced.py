# A search document's filing was stored with a space before and after each token (" t1 k2 "),
# so that a search found the matches holding a facet's choice by looking for " t1 " in each.
# Existing documents are padded here. 0015 drops the column.

from django.db import migrations

PADDED = "CASE WHEN facets = '' THEN ' ' ELSE ' ' || facets || ' ' END"


def facets_spaced(apps, schema_editor):
    schema_editor.execute(
        f"UPDATE cases_searchdocument SET facets = {PADDED} WHERE substr(facets, 1, 1) <> ' '"
    )


def facets_unspaced(apps, schema_editor):
    schema_editor.execute("UPDATE cases_searchdocument SET facets = trim(facets)")


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0011_hidden_case_indexes"),
    ]

    operations = [
        migrations.RunPython(facets_spaced, facets_unspaced),
    ]
