"""Numbered SQLite migrations, shared by every database citebot keeps (store, feedback, feeds)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence


def migrate(connection: sqlite3.Connection, migrations: Sequence[str]) -> None:
    """Bring the schema up to date: run the scripts after the one ``PRAGMA user_version`` records."""
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    for number, script in enumerate(migrations[version:], start=version + 1):
        connection.executescript(script)
        connection.execute(f"PRAGMA user_version = {number:d}")
