"""Django's SQLite backend, keeping the query planner's statistics up to date.

SQLite picks an index from the statistics ANALYZE gathers; without them it guesses that an
equality on an indexed column finds few rows. So the library's 25 cards, read by id among the
published cases, were found by walking the (status, is_sample, ...) index through every
published case instead of by primary key. SQLite's advice for long-lived connections is
``PRAGMA optimize`` as each one closes (ours live ``CONN_MAX_AGE`` seconds): it analyzes a
table the connection's queries used only when its statistics are missing or it has grown a
lot since, within ``analysis_limit`` rows per index (settings' ``init_command``), so it
usually does nothing.
"""

from __future__ import annotations

import sqlite3

from django.db.backends.sqlite3 import base


class DatabaseWrapper(base.DatabaseWrapper):
    def _close(self) -> None:
        if self.connection is not None and not self.in_atomic_block:
            try:
                # Best effort: never hold a worker long for another's write lock.
                self.connection.execute("PRAGMA busy_timeout = 100")
                self.connection.execute("PRAGMA optimize")
            except sqlite3.Error:
                pass
        super()._close()
