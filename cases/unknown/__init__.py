"""Unknown-case mode: a case revealed one step at a time, never leaking what comes later.

``reveal.py`` decides what a step shows (the unknown pages and the conference both use it);
``views.py`` holds the learner's pages and their progress in the session.
"""
