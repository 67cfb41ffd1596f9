"""citebot's small SQLite files (the followed feeds, the feedback and unanswered questions), opened so that
a damaged, locked, read-only or full one is one line that says what to do, never a traceback."""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from bot.errors import DatabaseFileError
from bot.migrations import migrate

LOCK_WAIT_SECONDS = 10.0
"""How long a call waits for another program's lock on the file before it gives up."""


@dataclass(frozen=True)
class DatabaseFile:
    """One such file: where it lies, what it holds in a few words, and what to do when it is damaged."""

    path: Path
    holds: str
    if_damaged: str


def connect(path: Path) -> sqlite3.Connection:
    """A connection that waits ``LOCK_WAIT_SECONDS`` for a lock; its errors are the caller's to translate."""
    return sqlite3.connect(path, timeout=LOCK_WAIT_SECONDS)


@contextmanager
def opened(path: Path, migrations: Sequence[str] = ()) -> Iterator[sqlite3.Connection]:
    """A connection in a transaction (committed when the block ends, rolled back when it raises), the
    schema brought up to date, closed after. What SQLite reports passes as it is."""
    with closing(connect(path)) as connection, connection:
        migrate(connection, migrations)
        yield connection


@contextmanager
def connected(file: DatabaseFile, migrations: Sequence[str] = ()) -> Iterator[sqlite3.Connection]:
    """``opened``, but any SQLite failure, here or in the caller's queries, becomes a ``DatabaseFileError``;
    a file this call created and left empty is removed again, so a full disk leaves no empty database."""
    created = not file.path.exists()
    try:
        with translated(file), opened(file.path, migrations) as connection:
            yield connection
    except DatabaseFileError:
        if created:
            _remove_if_empty(file.path)
        raise


@contextmanager
def translated(file: DatabaseFile) -> Iterator[None]:
    """What SQLite reports about ``file`` inside the block, as one ``DatabaseFileError``."""
    try:
        yield
    except sqlite3.DatabaseError as error:
        if getattr(error, "sqlite_errorcode", None) is None:
            raise  # a mistake in citebot's SQL, not a problem with the file
        raise database_error(file, error) from None


def _writable(path: Path) -> bool:
    """Whether this process may write the file and the folder it lies in (SQLite writes a journal there)."""
    return all(os.access(each, os.W_OK) for each in (path.parent, path) if each.exists())


def _remove_if_empty(path: Path) -> None:
    """Remove a database file left with nothing in it (SQLite creates the file before it writes), and its journal."""
    with suppress(OSError):
        if path.stat().st_size == 0:
            path.unlink()
            path.with_name(path.name + "-journal").unlink(missing_ok=True)


def database_error(file: DatabaseFile, error: sqlite3.DatabaseError) -> DatabaseFileError:
    """The one line for what SQLite reported about ``file``: what is wrong with it and what to do."""
    code = getattr(error, "sqlite_errorcode", 0) & 0xFF
    where = f"The {file.holds} {file.path}"
    if code in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
        return DatabaseFileError(f"{where} is damaged ({error}). {file.if_damaged}")
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return DatabaseFileError(f"{where} is locked by another program ({error}); try again when it has finished.")
    if code == sqlite3.SQLITE_READONLY or (code == sqlite3.SQLITE_CANTOPEN and not _writable(file.path)):
        return DatabaseFileError(f"{where} cannot be written: it or its folder is read-only. Make them writable.")
    if code == sqlite3.SQLITE_FULL:
        return DatabaseFileError(f"The disk is full at {file.path}; free some space and try again.")
    if code == sqlite3.SQLITE_CANTOPEN:
        return DatabaseFileError(f"{where} cannot be opened ({error}); check that its folder exists.")
    return DatabaseFileError(f"{where} cannot be used ({error}). Check the disk; if it is fine: {file.if_damaged}")


def disk_os_error(error: sqlite3.Error, database: Path) -> OSError | None:
    """The ``OSError`` that a full disk, or a folder or file citebot may not write, is behind what SQLite
    reported about ``database``, so it is said as the one-line disk message; None for any other error."""
    code = getattr(error, "sqlite_errorcode", 0) & 0xFF
    if code == sqlite3.SQLITE_FULL:
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(database))
    if code not in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN):
        return None
    for path in (database.parent, database):
        if path.exists() and not os.access(path, os.W_OK):
            number = errno.EROFS if os.statvfs(path).f_flag & os.ST_RDONLY else errno.EACCES
            return OSError(number, os.strerror(number), str(path))
    return None
