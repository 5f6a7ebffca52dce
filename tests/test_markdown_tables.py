"""A table written in Markdown scrolls inside its own box, so a wide one never widens the page."""

from __future__ import annotations

import pytest

from cases.markdown import markdown_render
from tests.conftest import case_build

WIDE = "\n".join(
    [
        "| " + " | ".join(f"Measurement {i}" for i in range(8)) + " |",
        "|" + "---|" * 8,
        "| " + " | ".join(f"value-{i}" for i in range(8)) + " |",
    ]
)


def test_a_markdown_table_is_wrapped_in_its_scroll_box():
    html = markdown_render(WIDE)
    assert html.startswith('<div class="table-scroll"><table>')
    assert html.rstrip().endswith("</table></div>")


def test_table_tags_in_text_stay_text():
    html = markdown_render("`<table>` and <table> and </table>")
    assert "<table>" not in html and "<div" not in html and "</div>" not in html


@pytest.mark.django_db
def test_the_article_puts_a_markdown_table_in_its_scroll_box(client):
    case = case_build(slug="tabled")
    case.findings = f"Measured:\n\n{WIDE}"
    case.save()
    html = client.get(case.get_absolute_url()).text
    assert '<div class="table-scroll"><table>\n<thead>' in html
