from django.apps import AppConfig


class CasesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "cases"

    def ready(self) -> None:
        # Receivers that keep the library's search index and cached counts in step.
        from .library import signals  # noqa: F401
