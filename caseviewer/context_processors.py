"""What every page's template needs from the request."""

from __future__ import annotations

from django.http import HttpRequest

THEMES = ("dark", "light")


def theme(request: HttpRequest) -> dict[str, str]:
    """The reader's theme, from the cookie the theme button sets (dark unless it says light).

    The page arrives with it on ``<html>``, so no script has to run before the first paint.
    """
    chosen = request.COOKIES.get("theme")
    return {"theme": chosen if chosen in THEMES else "dark"}
