"""Keep the search index and the library's cached counts in step with the cases.

Imported by ``CasesConfig.ready()``, which connects the receivers. Changes that send no
signal (``QuerySet.update()``, raw SQL) call ``library_changed()`` where they are made.
"""

from __future__ import annotations

from django.db.models.signals import (
    m2m_changed,
    post_delete,
    post_migrate,
    post_save,
    pre_delete,
)
from django.dispatch import receiver

from cases.models import Case, Figure, Keyword, Tag

from .models import CaseDifficulty
from .search import search_index_case, search_index_cases
from .version import library_changed


@receiver(post_save, sender=Case, dispatch_uid="library_case_saved")
def _case_saved(sender, instance: Case, raw: bool = False, **kwargs) -> None:
    if not raw:  # fixtures load rows in any order: `manage.py reindex_search` afterwards
        search_index_case(instance)


@receiver(post_save, sender=Figure, dispatch_uid="library_figure_saved")
@receiver(post_delete, sender=Figure, dispatch_uid="library_figure_deleted")
def _figure_changed(sender, instance: Figure, raw: bool = False, origin=None, **kwargs) -> None:
    if raw or _case_deletion(origin):
        return
    case = Case.objects.filter(pk=instance.case_id).first()
    if case is not None:  # gone when the figure goes with its case
        search_index_case(case)


def _case_deletion(origin) -> bool:
    """Whether a delete started from a case (or cases): its figures go with it, no reindex."""
    model = getattr(origin, "model", None) or type(origin)
    return origin is not None and issubclass(model, Case)


@receiver(m2m_changed, sender=Case.keywords.through, dispatch_uid="library_keywords_changed")
@receiver(m2m_changed, sender=Case.tags.through, dispatch_uid="library_tags_changed")
def _case_labels_changed(sender, instance, action: str, reverse: bool, pk_set, **kwargs) -> None:
    if not action.startswith("post_"):
        return
    if reverse:  # keyword.cases.add(...) and the like
        search_index_cases(case_ids=pk_set or instance.cases.values_list("pk", flat=True))
    else:
        search_index_case(instance)


@receiver(post_save, sender=Keyword, dispatch_uid="library_keyword_saved")
@receiver(post_save, sender=Tag, dispatch_uid="library_tag_saved")
def _label_renamed(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    if not created and not raw:
        search_index_cases(case_ids=instance.cases.values_list("pk", flat=True))


@receiver(post_migrate, dispatch_uid="library_index_after_migrate")
def _index_missing(sender, app_config, using: str = "default", **kwargs) -> None:
    """After migrating an existing installation, index the cases that have no document yet."""
    if app_config.label != "cases":
        return
    missing = Case.objects.using(using).filter(search_document__isnull=True)
    if missing.exists():
        search_index_cases(case_ids=list(missing.values_list("pk", flat=True)))


@receiver(post_delete, sender=Case, dispatch_uid="library_case_deleted")
def _case_deleted(sender, **kwargs) -> None:
    library_changed()


# A tag or keyword deleted takes its links to cases with it, without an m2m signal: the cases
# it filed are noted before, and indexed again after (their documents hold its name).
@receiver(pre_delete, sender=Tag, dispatch_uid="library_tag_deleting")
@receiver(pre_delete, sender=Keyword, dispatch_uid="library_keyword_deleting")
def _label_deleting(sender, instance, **kwargs) -> None:
    instance.filed_case_ids = list(instance.cases.values_list("pk", flat=True))


@receiver(post_delete, sender=Tag, dispatch_uid="library_tag_deleted")
@receiver(post_delete, sender=Keyword, dispatch_uid="library_keyword_deleted")
def _label_deleted(sender, instance, **kwargs) -> None:
    search_index_cases(case_ids=getattr(instance, "filed_case_ids", []))


@receiver(post_save, sender=CaseDifficulty, dispatch_uid="library_difficulty_saved")
@receiver(post_delete, sender=CaseDifficulty, dispatch_uid="library_difficulty_deleted")
def _difficulty_changed(
    sender, instance: CaseDifficulty, raw: bool = False, origin=None, **kwargs
) -> None:
    if not raw:  # the difficulty facet counts it; the search document does not hold it
        library_changed()
