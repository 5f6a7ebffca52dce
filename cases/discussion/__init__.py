"""Per-case discussion threads: comments, replies, view links, moderation, notifications.

Other pages show a case's thread with::

    {% include "cases/discussion/thread.html#thread" %}

after putting ``cases.discussion.context.thread_context(request, case)`` into their context.
Every thread URL names the case by its opaque ``public_id`` only, never its slug or title.
"""
