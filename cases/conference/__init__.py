"""Live case conferences: a presenter drives the reveal and the viewer on every audience screen.

The presenter's console (``presenter.py``) changes the live state (``state.py``); each audience
page (``audience.py``) polls it with a conditional GET and gets 304 while nothing changed. The
state lives in the database, with Redis in front of it when ``REDIS_URL`` is set: nothing in a
worker's memory.
"""
