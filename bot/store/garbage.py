"""Removing what no kept build needs any more, after a build is published.

Rows a build removes stay until no kept build (the published one and the one before) sees them, so
an engine still on the previous build keeps working; until then they also count in the full-text
index's bm25 statistics, which shifts lexical scores a little from those of a fresh build.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from pathlib import Path

from bot.errors import CitebotError
from bot.store.builds import LockedIndex, delete_articles
from bot.store.layout import BUILDS
from bot.store.schema import BuildRecord, connect_to_write, current_build

KEEP_BUILDS = 2


def collect_garbage(index: LockedIndex) -> None:
    """Keep the published build and the one before it; remove other build folders, rows no kept build
    can see, and stores no kept build uses. Best effort: what a full disk or a damaged file leaves here,
    the next build's collection removes."""
    with contextlib.suppress(OSError, sqlite3.Error, CitebotError):
        _collect(index.folder)


def _collect(index_dir: Path) -> None:
    current = current_build(index_dir)
    records: dict[Path, BuildRecord] = {}
    for folder in (index_dir / BUILDS).iterdir():
        with contextlib.suppress(CitebotError):
            records[folder] = BuildRecord.read(folder)
    if current is None or current not in records:
        return
    newest = records[current].number
    older = sorted((f for f, r in records.items() if r.number < newest), key=lambda f: records[f].number)
    kept = {current, *older[-(KEEP_BUILDS - 1) :]}
    for folder in (index_dir / BUILDS).iterdir():
        if folder not in kept:
            shutil.rmtree(folder, ignore_errors=True)
    store = records[current].store
    oldest = min(records[f].number for f in kept if records[f].store == store)
    with contextlib.closing(connect_to_write(index_dir / store)) as connection:
        connection.execute("BEGIN IMMEDIATE")
        delete_articles(connection, "removed <= ?", oldest)
        connection.execute("DELETE FROM builds WHERE number < ?", (oldest,))
        connection.execute("COMMIT")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    stores = {records[folder].store for folder in kept}
    for path in index_dir.glob("store-*.sqlite*"):
        if path.name.removesuffix("-wal").removesuffix("-shm") not in stores:
            path.unlink(missing_ok=True)
