"""The moderators' side of the admin: the reports queue, comments, and the audit trail."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, Q
from django.utils.html import format_html
from django.utils.translation import ngettext

from .models import Comment, Follow, ModerationAction, Report
from .services import comment_hide, comment_restore, report_dismiss, user_is_moderator


class ModeratorAccess:
    """Moderators (staff in the Moderators group) see these pages without model permissions."""

    def has_module_permission(self, request) -> bool:
        return user_is_moderator(request.user) or super().has_module_permission(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return user_is_moderator(request.user) or super().has_view_permission(request, obj)


@admin.register(Report)
class ReportAdmin(ModeratorAccess, admin.ModelAdmin):
    """The queue: open reports first; hide the comment or dismiss the report, with a reason."""

    list_display = ["created", "status", "reason", "comment_link", "comment_excerpt", "reporter"]
    list_filter = ["status", "reason"]
    list_select_related = ["comment__author", "comment__case", "reporter"]
    search_fields = ["comment__body", "note", "reporter__username"]
    readonly_fields = [
        "comment", "reporter", "reason", "note", "created", "status", "resolved_at", "resolved_by",
    ]  # fmt: skip
    actions = ["hide_comments", "dismiss_reports"]
    ordering = ["status", "-created"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="Comment")
    def comment_link(self, obj: Report) -> str:
        return format_html('<a href="{}">#{}</a>', obj.comment.get_absolute_url(), obj.comment_id)

    @admin.display(description="Text")
    def comment_excerpt(self, obj: Report) -> str:
        return obj.comment.body[:120]

    @admin.action(description="Hide the reported comments (reason: the report's)")
    def hide_comments(self, request, queryset) -> None:
        done = 0
        for report in queryset.filter(status=Report.Status.OPEN).select_related("comment"):
            if not report.comment.is_hidden:
                reason = f"Reported: {report.get_reason_display()}"
                comment_hide(comment=report.comment, moderator=request.user, reason=reason)
                done += 1
        self.message_user(
            request, ngettext("%d comment hidden.", "%d comments hidden.", done) % done
        )

    @admin.action(description="Dismiss the selected reports")
    def dismiss_reports(self, request, queryset) -> None:
        done = 0
        for report in queryset.filter(status=Report.Status.OPEN).select_related("comment"):
            report_dismiss(report=report, moderator=request.user, reason="Dismissed in the queue")
            done += 1
        self.message_user(
            request,
            ngettext("%d report dismissed.", "%d reports dismissed.", done) % done,
            messages.SUCCESS,
        )


@admin.register(Comment)
class CommentAdmin(ModeratorAccess, admin.ModelAdmin):
    list_display = ["id", "created", "author", "case", "is_reply", "state", "open_reports"]
    list_filter = [
        ("hidden_at", admin.EmptyFieldListFilter),
        ("deleted_at", admin.EmptyFieldListFilter),
    ]
    list_select_related = ["author", "case"]
    search_fields = ["body", "author__username", "case__title"]
    readonly_fields = [
        "case", "author", "parent", "body", "body_html", "view_figure", "view_query", "created",
        "edited", "last_activity", "deleted_at", "hidden_at", "hidden_by", "hidden_reason",
    ]  # fmt: skip
    exclude = ["idempotency_key"]
    actions = ["restore_comments"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(_open=Count("reports", filter=Q(reports__status=Report.Status.OPEN)))
        )

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(boolean=True, description="Reply")
    def is_reply(self, obj: Comment) -> bool:
        return obj.parent_id is not None

    @admin.display(description="State")
    def state(self, obj: Comment) -> str:
        if obj.is_deleted:
            return "deleted by author"
        if obj.is_hidden:
            return f"hidden: {obj.hidden_reason}"
        return "visible"

    @admin.display(description="Open reports", ordering="_open")
    def open_reports(self, obj: Comment) -> int:
        return obj._open

    @admin.action(description="Restore the selected hidden comments")
    def restore_comments(self, request, queryset) -> None:
        done = 0
        for comment in queryset.filter(hidden_at__isnull=False):
            comment_restore(comment=comment, moderator=request.user, reason="Restored in the admin")
            done += 1
        self.message_user(
            request, ngettext("%d comment restored.", "%d comments restored.", done) % done
        )


@admin.register(ModerationAction)
class ModerationActionAdmin(ModeratorAccess, admin.ModelAdmin):
    """The audit trail: read-only, nobody edits or deletes it here."""

    list_display = ["created", "moderator", "action", "comment", "reason"]
    list_filter = ["action", "moderator"]
    search_fields = ["reason", "comment_excerpt"]
    list_select_related = ["moderator", "comment"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Follow)
class FollowAdmin(admin.ModelAdmin):
    list_display = ["user", "case", "active", "created"]
    list_filter = ["active"]
    list_select_related = ["user", "case"]
    search_fields = ["user__username", "case__title"]
    autocomplete_fields = ["user", "case"]
