"""Writing a build, publishing it in one atomic step, and removing what no build needs any more.

All builds share one SQLite store: a build adds its article rows marked with its number and marks
the rows it removes, in one transaction, so readers of earlier builds see nothing change. Its
vectors are the earlier build's segment files, hard-linked, plus one small new segment. The build
is published by atomically replacing the ``CURRENT`` pointer: a reader never sees a half-built
index, and a crashed build leaves the previous one serving (its rows are forgotten by the next).
One build at a time: a lock file serialises builds of one index.

Rows a build removes stay until no kept build (the published one and the one before) sees them, so
an engine still on the previous build keeps working; until then they also count in the full-text
index's bm25 statistics, which shifts lexical scores a little from those of a fresh build.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bot.errors import CitebotError
from bot.models import Article, Chunk, IndexInfo
from bot.sqlite_files import disk_os_error
from bot.store.reading import recorded_info
from bot.store.schema import (
    BUILD_FILE,
    BUILDS,
    CURRENT,
    LEGACY_DATABASE,
    LOCK,
    VISIBLE,
    BuildRecord,
    current_build,
    digest,
    migrate,
    placeholders,
)
from bot.store.vectors import VectorSet, write_segments

KEEP_BUILDS = 2


@dataclass(frozen=True)
class PendingSentence:
    """A stored sentence that still needs its vector."""

    id: int
    digest: str
    text: str


class BuildWriter:
    """Writes one build: on top of ``base`` (a published build whose store it extends) or, with no
    base, into a new store. ``finish`` and ``publish`` make it the index; ``discard`` forgets it."""

    def __init__(self, index_dir: Path, base: Path | None = None) -> None:
        self.index_dir = index_dir
        (index_dir / BUILDS).mkdir(parents=True, exist_ok=True)
        self._lock = open(index_dir / LOCK, "a")  # noqa: SIM115 - held until publish or discard
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        self.connection: sqlite3.Connection | None = None
        self.folder: Path | None = None
        try:
            self.base = BuildRecord.read(base) if base else None
            self.base_vectors = VectorSet(base, self.base.segments, self.base.removed) if base and self.base else None
            self.number = (self.base.number if self.base else _published_number(index_dir)) + 1
            self.store = self.base.store if self.base else f"store-{self.number:06d}-{secrets.token_hex(4)}.sqlite"
            self.connection = sqlite3.connect(index_dir / self.store, isolation_level=None)
            self.connection.execute("PRAGMA journal_mode = WAL")
            self.connection.execute("PRAGMA synchronous = FULL")
            self.connection.execute("PRAGMA foreign_keys = ON")
            migrate(self.connection)
            self.connection.execute("BEGIN IMMEDIATE")
            if self.base:
                _forget_builds_after(self.connection, self.base.number)
            self.base_info = recorded_info(self.connection, self.base.number, base) if base and self.base else None
            self.removed: list[int] = []
            self._ids: list[np.ndarray] = []
            self._vectors: list[np.ndarray] = []
        except sqlite3.Error as error:
            self.discard()
            disk = disk_os_error(error, index_dir / self.store) if hasattr(self, "store") else None
            if disk is None:
                raise
            raise disk from None
        except BaseException:
            self.discard()
            raise

    def _rows(self, sql: str, build: int, parameters: Sequence[object] = ()) -> list[tuple]:
        """Rows of ``sql``, whose ``VISIBLE`` condition is about ``build``."""
        assert self.connection is not None
        return self.connection.execute(sql, (build, *parameters)).fetchall()

    def articles(self) -> dict[str, str]:
        """Document path to article id, for the articles of the base build."""
        if self.base is None:
            return {}
        return dict(self._rows(f"SELECT a.document, a.id FROM articles a WHERE {VISIBLE}", self.base.number))

    def counts(self) -> tuple[int, int, int]:
        """Articles, passages and sentences the new build holds."""
        sql = (
            "SELECT COUNT(DISTINCT a.row), COUNT(DISTINCT c.id), COUNT(s.id) FROM articles a "
            f"LEFT JOIN chunks c ON c.article = a.row LEFT JOIN sentences s ON s.chunk_id = c.id WHERE {VISIBLE}"
        )
        return tuple(self._rows(sql, self.number)[0])  # type: ignore[return-value]

    def remove_articles(self, documents: Sequence[str]) -> None:
        """Mark these articles removed by this build; their vectors are skipped from now on."""
        if not documents or self.base is None:
            return
        where = f"{VISIBLE} AND a.document IN ({placeholders(documents)})"
        self.removed.extend(
            row[0]
            for row in self._rows(
                "SELECT s.id FROM sentences s JOIN chunks c ON c.id = s.chunk_id "
                f"JOIN articles a ON a.row = c.article WHERE {where}",
                self.base.number,
                documents,
            )
        )
        rows = [
            row[0] for row in self._rows(f"SELECT a.row FROM articles a WHERE {where}", self.base.number, documents)
        ]
        assert self.connection is not None
        self.connection.execute(
            f"UPDATE articles SET removed = ? WHERE row IN ({placeholders(rows)})", (self.number, *rows)
        )

    def add_article(self, article: Article, chunks: Sequence[Chunk]) -> list[PendingSentence]:
        """Store the article and its passages; returns its sentences, to be given vectors."""
        assert self.connection is not None
        row = self.connection.execute(
            "INSERT INTO articles (id, document, title, url, date, author, text, added) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                article.id,
                article.document,
                article.title,
                article.url,
                article.date,
                article.author,
                article.text,
                self.number,
            ),
        ).lastrowid
        pending = []
        for chunk in chunks:
            chunk_id = self.connection.execute(
                "INSERT INTO chunks (article, start, end) VALUES (?, ?, ?)", (row, chunk.start, chunk.end)
            ).lastrowid
            self.connection.execute("INSERT INTO chunks_fts (rowid, text) VALUES (?, ?)", (chunk_id, chunk.text))
            for sentence in chunk.sentences:
                sentence_digest = digest(sentence.text)
                sentence_id = self.connection.execute(
                    "INSERT INTO sentences (chunk_id, start, end, digest) VALUES (?, ?, ?, ?)",
                    (chunk_id, sentence.start, sentence.end, sentence_digest),
                ).lastrowid
                assert sentence_id is not None
                pending.append(PendingSentence(sentence_id, sentence_digest, sentence.text))
        return pending

    def known_vectors(self, model: str, digests: Iterable[str]) -> dict[str, np.ndarray]:
        """Vectors the base build already has for these texts (found by digest), so only new text
        is embedded; with no base, those of an index written before stores were shared."""
        wanted = list(dict.fromkeys(digests))
        if self.base is None or self.base_vectors is None or self.base_info is None:
            return _legacy_vectors(self.index_dir, model, wanted)
        if self.base_info.model != model:
            return {}
        found: dict[str, int] = {}
        for batch in _batches(wanted, 500):
            found.update(
                self._rows(
                    "SELECT s.digest, s.id FROM sentences s JOIN chunks c ON c.id = s.chunk_id "
                    f"JOIN articles a ON a.row = c.article WHERE {VISIBLE} AND s.digest IN ({placeholders(batch)})",
                    self.base.number,
                    batch,
                )
            )
        if not found:
            return {}
        vectors = self.base_vectors.reconstruct(list(found.values()))
        return dict(zip(found, vectors, strict=True))

    def add_vectors(self, sentence_ids: Sequence[int], vectors: np.ndarray) -> None:
        if len(sentence_ids):
            self._ids.append(np.asarray(sentence_ids, dtype=np.int64))
            self._vectors.append(np.asarray(vectors, dtype=np.float32))

    @property
    def dimension(self) -> int:
        if self._vectors:
            return int(self._vectors[0].shape[1])
        return self.base_info.dimension if self.base_info else 0

    def build_folder(self) -> Path:
        """This build's folder, made on first use (a build that changes nothing makes none)."""
        if self.folder is None:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
            self.folder = Path(tempfile.mkdtemp(prefix=f"{self.number:06d}-{stamp}-", dir=self.index_dir / BUILDS))
        return self.folder

    def finish(self, info: IndexInfo) -> None:
        """Write this build's vectors and record, and commit its rows: ready to publish."""
        assert self.connection is not None
        self.build_folder()
        assert self.folder is not None
        ids = np.concatenate(self._ids) if self._ids else np.zeros(0, dtype=np.int64)
        vectors = np.vstack(self._vectors) if self._vectors else np.zeros((0, info.dimension), dtype=np.float32)
        written = write_segments(self.base_vectors, self.removed, ids, vectors, self.folder, self.number)
        BuildRecord(self.number, self.store, written.files, tuple(sorted(written.removed))).write(self.folder)
        _fsync(self.folder / BUILD_FILE)
        self.connection.execute(
            "INSERT OR REPLACE INTO builds (number, info) VALUES (?, ?)", (self.number, json.dumps(asdict(info)))
        )
        self.connection.execute("COMMIT")

    def publish(self) -> None:
        """Point CURRENT at this build in one atomic rename, then drop what no kept build needs."""
        assert self.folder is not None
        pointer = self.index_dir / f".{CURRENT}.{os.getpid()}"
        pointer.write_text(self.folder.name + "\n", encoding="utf-8")
        _fsync(pointer)
        os.replace(pointer, self.index_dir / CURRENT)
        with contextlib.suppress(OSError, sqlite3.Error, CitebotError):
            collect_garbage(self.index_dir, self.connection)
        self._close()

    def discard(self) -> None:
        """Forget this build: its folder goes, its uncommitted rows roll back, and rows it committed
        are forgotten by the next build."""
        if self.connection is not None:
            with contextlib.suppress(sqlite3.Error):
                if self.connection.in_transaction:
                    self.connection.execute("ROLLBACK")
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
        self._close()
        if self.base is None and hasattr(self, "store"):
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(OSError):
                    (self.index_dir / f"{self.store}{suffix}").unlink()

    def _close(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(sqlite3.Error):
                self.connection.close()
            self.connection = None
        if not self._lock.closed:
            self._lock.close()


def _published_number(index_dir: Path) -> int:
    try:
        build = current_build(index_dir)
        return BuildRecord.read(build).number if build else 0
    except CitebotError:
        return 0


def _forget_builds_after(connection: sqlite3.Connection, number: int) -> None:
    """Undo what builds after ``number`` wrote that were never published (they crashed)."""
    _delete_articles(connection, "added > ?", number)
    connection.execute("UPDATE articles SET removed = NULL WHERE removed > ?", (number,))
    connection.execute("DELETE FROM builds WHERE number > ?", (number,))


def _delete_articles(connection: sqlite3.Connection, where: str, number: int) -> None:
    """Delete the articles ``where`` says (one ``?``: ``number``) with their passages and full text."""
    rows = connection.execute(f"SELECT row, text FROM articles WHERE {where}", (number,)).fetchall()
    for row, text in rows:
        connection.executemany(
            "INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', ?, ?)",
            [
                (chunk_id, text[start:end])
                for chunk_id, start, end in connection.execute(
                    "SELECT id, start, end FROM chunks WHERE article = ?", (row,)
                )
            ],
        )
        connection.execute("DELETE FROM articles WHERE row = ?", (row,))


def collect_garbage(index_dir: Path, connection: sqlite3.Connection | None) -> None:
    """Keep the published build and the one before it; remove other build folders, rows no kept
    build can see, and stores no kept build uses. Runs under the build lock."""
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
    stores = {records[folder].store for folder in kept}
    if connection is not None and records[current].store in stores:
        oldest = min(records[f].number for f in kept if records[f].store == records[current].store)
        connection.execute("BEGIN IMMEDIATE")
        _delete_articles(connection, "removed <= ?", oldest)
        connection.execute("DELETE FROM builds WHERE number < ?", (oldest,))
        connection.execute("COMMIT")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for path in index_dir.glob("store-*.sqlite*"):
        if path.name.removesuffix("-wal").removesuffix("-shm") not in stores:
            path.unlink(missing_ok=True)


def _legacy_vectors(index_dir: Path, model: str, digests: list[str]) -> dict[str, np.ndarray]:
    """Vectors kept by an index written before stores were shared (its embedding cache), so that
    rebuilding it into the new layout embeds nothing it already had."""
    with contextlib.suppress(CitebotError):
        build = current_build(index_dir)
        if build is None or not (build / LEGACY_DATABASE).is_file() or not digests:
            return {}
        wanted = set(digests)
        found: dict[str, np.ndarray] = {}
        legacy = sqlite3.connect(f"file:{build / LEGACY_DATABASE}?mode=ro", uri=True)
        with contextlib.closing(legacy), contextlib.suppress(sqlite3.Error):
            for full_digest, vector in legacy.execute(
                "SELECT digest, vector FROM embeddings WHERE model = ?", (model,)
            ):
                if full_digest[:32] in wanted:
                    found[full_digest[:32]] = np.frombuffer(vector, dtype=np.float32)
        return found
    return {}


def _batches(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())
