"""Thread pages: read, post, preview, reply, edit, delete, report, moderate, follow.

Every URL names the case by its opaque public id. Each view answers htmx with the fragment
it changed and everyone else with a full page or a redirect, so nothing needs JavaScript.
A form with errors answers 422 (or 429 when posting too fast) to both, re-rendered in place;
the htmx-config meta in base.html tells htmx to swap those answers.
"""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import reswap, retarget

from ..http import HtmxHttpRequest, render_page
from ..models import Case
from .context import comments_decorate, thread_comments, thread_context
from .forms import CommentEditForm, CommentForm, ModerationForm, ReportForm
from .models import Comment
from .services import (
    RateLimited,
    comment_body_render,
    comment_create,
    comment_delete,
    comment_edit,
    comment_hide,
    comment_restore,
    follow_set,
    report_create,
    user_can_read_threads,
    user_is_moderator,
)

THREAD_PAGE = "cases/discussion/thread.html"
COMMENT_PAGE = "cases/discussion/comment.html"


class LoginNeeded(Exception):
    pass


def _get_case_for_user(request: HttpRequest, public_id: str, *, write: bool = False) -> Case:
    case = get_object_or_404(Case.objects.visible_to(request.user), public_id=public_id)
    if not user_can_read_threads(request.user) or (write and not request.user.is_authenticated):
        raise LoginNeeded
    return case


def _get_comment_for_user(
    request: HttpRequest, public_id: str, pk: int, *, write: bool = False
) -> Comment:
    case = _get_case_for_user(request, public_id, write=write)
    comment = get_object_or_404(
        Comment.objects.select_related("author", "hidden_by", "case"), case=case, pk=pk
    )
    comments_decorate([comment], user=request.user, is_moderator=user_is_moderator(request.user))
    return comment


def _login_response(request: HtmxHttpRequest) -> HttpResponse:
    if request.htmx:
        # Send the whole page to the log-in form, and back to where the member was.
        back = request.htmx.current_url_abs_path or "/"
        response = HttpResponse(status=204)
        response["HX-Redirect"] = redirect_to_login(back)["Location"]
        return response
    back = request.get_full_path() if request.method == "GET" else request.POST.get("next", "/")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = "/"
    return redirect_to_login(back)


def _login_guard(view):
    """Turn LoginNeeded into a redirect to the log-in page (an HX-Redirect for htmx)."""

    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except LoginNeeded:
            return _login_response(request)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def _next_url(request: HttpRequest, default: str) -> str:
    candidate = request.POST.get("next", "")
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate.split("#")[0]
    return default


def _thread_url(case: Case) -> str:
    return reverse("cases:discussion_thread", args=[case.public_id])


def _redirect(url: str) -> HttpResponseRedirect:
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def _comment_response(request: HtmxHttpRequest, comment: Comment) -> HttpResponse:
    """After a change to one comment: the comment's fragment, or back to its permalink."""
    if request.htmx:
        return render(request, f"{THREAD_PAGE}#comment", {"comment": comment})
    return _redirect(comment.get_absolute_url())


@require_GET
@vary_on_headers("HX-Request")
@_login_guard
def thread(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """The whole thread on its own page; htmx gets the thread fragment (pagination)."""
    case = _get_case_for_user(request, public_id)
    context = thread_context(request, case)
    context["from_unknown"] = request.GET.get("from") == "unknown"
    return render_page(request, THREAD_PAGE, context, partial="thread")


def _form_failed(request: HtmxHttpRequest, case: Case, form: CommentForm, status: int):
    context = thread_context(request, case, form=form, next_url=request.POST.get("next", ""))
    template = f"{THREAD_PAGE}#thread" if request.htmx else THREAD_PAGE
    return render(request, template, context, status=status)


@require_POST
@vary_on_headers("HX-Request")
@_login_guard
def comment_post(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """Post a comment or a reply. A repeated submit of one form makes no second comment."""
    case = _get_case_for_user(request, public_id, write=True)
    form = CommentForm(request.POST, case=case)
    if not form.is_valid():
        return _form_failed(request, case, form, status=422)
    try:
        comment, _ = comment_create(
            case=case,
            author=request.user,
            body=form.cleaned_data["body"],
            parent=form.cleaned_data["parent"],
            view=form.cleaned_data["view"],
            key=form.cleaned_data["key"],
            base_url=request.build_absolute_uri("/").rstrip("/"),
        )
    except RateLimited as exc:
        form.add_error(None, str(exc))
        response = _form_failed(request, case, form, status=429)
        response["Retry-After"] = str(exc.retry_after)
        return response
    if request.htmx:
        # A fresh thread: the new comment in place and an empty form with a new key.
        context = thread_context(request, case, next_url=request.POST.get("next", ""))
        context["thread"].highlight = comment.pk
        return render(request, f"{THREAD_PAGE}#thread", context, status=201)
    return _redirect(f"{_next_url(request, comment.get_absolute_url())}#c-{comment.pk}")


@require_POST
@vary_on_headers("HX-Request")
@_login_guard
def comment_preview(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """Show the comment as it will look; nothing is saved."""
    case = _get_case_for_user(request, public_id, write=True)
    form = CommentForm(request.POST, case=case)
    valid = form.is_valid()
    preview_html = comment_body_render(case=case, body=form.cleaned_data["body"]) if valid else ""
    view = form.cleaned_data.get("view") if valid else None
    chip = view.chip(case) if view else ""
    if request.htmx:
        context = {
            "preview_html": preview_html,
            "preview_chip": chip,
            "form": form,
            "preview_requested": True,
        }
        return render(request, f"{THREAD_PAGE}#preview", context, status=200 if valid else 422)
    context = thread_context(
        request, case, form=form, preview_html=preview_html, next_url=request.POST.get("next", "")
    )
    context["thread"].preview_chip = chip
    return render(request, THREAD_PAGE, context, status=200 if valid else 422)


def _panel_response(request: HttpRequest, template: str, context: dict, *, status: int):
    """A comment's report or moderation form, for its panel under the comment.

    The form itself targets the whole comment (a saved report or a hidden comment replaces
    it); a form with errors goes back into the panel, so the comment stays where it was.
    """
    response = render(request, template, context, status=status)
    if status == 422:
        retarget(response, f"#c-{context['comment'].pk}-panel")
        reswap(response, "innerHTML")
    return response


@require_GET
@vary_on_headers("HX-Request")
@_login_guard
def comment_detail(request: HtmxHttpRequest, public_id: str, pk: int) -> HttpResponse:
    """A comment's permalink: its conversation (the top-level comment and every reply)."""
    comment = _get_comment_for_user(request, public_id, pk)
    if request.htmx:
        return render(request, f"{THREAD_PAGE}#comment", {"comment": comment})
    return _conversation_page(request, comment)


def _conversation_page(
    request: HttpRequest, comment: Comment, *, action: str = "", form=None, status: int = 200
) -> HttpResponse:
    root = thread_comments(comment.case).get(pk=comment.parent_id or comment.pk)
    moderator = user_is_moderator(request.user)
    comments_decorate([root, *root.replies.all()], user=request.user, is_moderator=moderator)
    context = {
        "case": comment.case,
        "root": root,
        "target": comment,
        "action": action,
        "action_form": form,
        "thread_url": _thread_url(comment.case),
    }
    return render(request, COMMENT_PAGE, context, status=status)


@require_GET
@vary_on_headers("HX-Request")
@_login_guard
def reply_form(request: HtmxHttpRequest, public_id: str, pk: int) -> HttpResponse:
    """The reply form under a comment (in place with htmx, on the permalink page without)."""
    comment = _get_comment_for_user(request, public_id, pk, write=True)
    if not comment.can_reply:
        raise PermissionDenied("This comment cannot be replied to.")
    form = CommentForm(case=comment.case, initial={"parent": comment.parent_id or comment.pk})
    if request.htmx:
        context = {
            "comment": comment,
            "form": form,
            "case": comment.case,
            "form_id": f"reply-{comment.pk}",
            "next_url": request.htmx.current_url_abs_path or "",
        }
        return render(request, f"{THREAD_PAGE}#reply-form", context)
    return _conversation_page(request, comment, action="reply", form=form)


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
@_login_guard
def comment_edit_view(request: HtmxHttpRequest, public_id: str, pk: int) -> HttpResponse:
    """Edit one's own comment within the edit window."""
    comment = _get_comment_for_user(request, public_id, pk, write=True)
    if not comment.is_editable_by(request.user):
        raise PermissionDenied("Comments can be edited by their author for a short time only.")
    view_value = f"{comment.view_figure}:{comment.view_query}" if comment.view_figure else ""
    if request.method == "POST":
        form = CommentEditForm(request.POST, case=comment.case)
        if form.is_valid():
            comment_edit(
                comment=comment,
                editor=request.user,
                body=form.cleaned_data["body"],
                view=form.cleaned_data["view"],
            )
            comments_decorate([comment], user=request.user, is_moderator=False)
            return _comment_response(request, comment)
        status = 422
    else:
        form = CommentEditForm(
            case=comment.case, initial={"body": comment.body, "view": view_value}
        )
        status = 200
    if request.htmx:
        context = {"comment": comment, "form": form}
        return render(request, f"{THREAD_PAGE}#edit-form", context, status=status)
    return _conversation_page(request, comment, action="edit", form=form, status=status)


@require_POST
@vary_on_headers("HX-Request")
@_login_guard
def comment_delete_view(request: HttpRequest, public_id: str, pk: int) -> HttpResponse:
    comment = _get_comment_for_user(request, public_id, pk, write=True)
    comment_delete(comment=comment, user=request.user)
    comments_decorate([comment], user=request.user, is_moderator=user_is_moderator(request.user))
    return _comment_response(request, comment)


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
@_login_guard
def comment_moderate(
    request: HtmxHttpRequest, public_id: str, pk: int, action: str
) -> HttpResponse:
    """Hide or restore a comment, with a reason that goes into the audit trail."""
    comment = _get_comment_for_user(request, public_id, pk, write=True)
    if not user_is_moderator(request.user):
        raise PermissionDenied("Moderators only.")
    form = ModerationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        do = comment_hide if action == "hide" else comment_restore
        do(comment=comment, moderator=request.user, reason=form.cleaned_data["reason"])
        comments_decorate([comment], user=request.user, is_moderator=True)
        return _comment_response(request, comment)
    status = 422 if request.method == "POST" else 200
    if request.htmx:
        context = {"comment": comment, "form": form, "action": action}
        return _panel_response(request, f"{THREAD_PAGE}#moderate-form", context, status=status)
    return _conversation_page(request, comment, action=action, form=form, status=status)


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
@_login_guard
def comment_report(request: HtmxHttpRequest, public_id: str, pk: int) -> HttpResponse:
    """Flag a comment for the moderators."""
    comment = _get_comment_for_user(request, public_id, pk, write=True)
    if not comment.can_report:
        raise PermissionDenied("This comment cannot be reported.")
    form = ReportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        report_create(
            comment=comment,
            reporter=request.user,
            reason=form.cleaned_data["reason"],
            note=form.cleaned_data["note"],
        )
        comment.reported = True
        return _comment_response(request, comment)
    status = 422 if request.method == "POST" else 200
    if request.htmx:
        context = {"comment": comment, "form": form}
        return _panel_response(request, f"{THREAD_PAGE}#report-form", context, status=status)
    return _conversation_page(request, comment, action="report", form=form, status=status)


@require_POST
@vary_on_headers("HX-Request")
@_login_guard
def thread_follow(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """Follow or stop following a thread (``following=1`` or ``0``)."""
    case = _get_case_for_user(request, public_id, write=True)
    follow = follow_set(
        case=case, user=request.user, following=request.POST.get("following") == "1"
    )
    if request.htmx:
        context = thread_context(request, case)
        context["thread"].following = follow.active
        return render(request, f"{THREAD_PAGE}#follow", context)
    return _redirect(_next_url(request, _thread_url(case)))
