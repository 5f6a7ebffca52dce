from django.apps import AppConfig


class CasesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "cases"

    def ready(self) -> None:
        # Receivers: the conference room's screen rendered for the push stream (audience),
        # and the library's search index and cached counts kept in step (signals).
        from .conference import audience  # noqa: F401
        from .library import signals  # noqa: F401
