"""Numbered SQLite migrations, shared by every database citebot keeps (store, feedback, feeds)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence


def migrate(connection: sqlite3.Connection, migrations: Sequence[str]) -> None:
    """Bring the schema up to date: run the scripts after the one ``PRAGMA user_version`` records.

    Each script runs in one transaction with the version it sets, so a crash or a failing statement
    inside it leaves the version before it, whole. (``executescript`` commits whatever is pending and
    then runs each statement on its own, unless the script itself opens a transaction.)"""
    while (version := schema_version(connection)) < len(migrations):
        try:
            connection.executescript(
                f"BEGIN IMMEDIATE;\n{migrations[version]}\n;PRAGMA user_version = {version + 1:d};\nCOMMIT;"
            )
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise


def schema_version(connection: sqlite3.Connection) -> int:
    return int(connection.execute("PRAGMA user_version").fetchone()[0])
