"""Writing a build and publishing it in one atomic step.

    with lock_index(folder) as index:
        plan = ...what changes on top of the published build, read and embedded...
        with open_build(index, base) as build:
            build.apply(plan)
        collect_garbage(index)

All builds share one SQLite store: a build adds its article rows marked with its number and marks
the rows it removes, in one transaction, so readers of earlier builds see nothing change. Its
vectors are the earlier build's segment files, hard-linked, plus one small new segment. The build
is published by atomically replacing the ``CURRENT`` pointer: a reader never sees a half-built
index, and a crashed build leaves the previous one serving (its rows are forgotten by the next).
One build at a time: the lock file serialises the builds of one index.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import secrets
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bot.errors import CitebotError
from bot.models import Article, Chunk, IndexInfo, Sentence
from bot.sqlite_files import disk_os_error
from bot.store.durable import replace_file
from bot.store.layout import BUILDS, CURRENT, LOCK
from bot.store.reading import recorded_info
from bot.store.schema import VISIBLE, BuildRecord, connect_to_write, current_build, digest, placeholders
from bot.store.vectors import VectorSet, write_segments


@dataclass(frozen=True)
class LockedIndex:
    """An index folder whose build lock this process holds: only the holder opens builds and collects garbage."""

    folder: Path


@contextmanager
def lock_index(folder: Path) -> Iterator[LockedIndex]:
    """Hold the build lock of the index in ``folder`` for the block. A second build waits here, so what it
    reads after (the published build, its articles) is what the first one left."""
    (folder / BUILDS).mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield LockedIndex(folder)


@dataclass(frozen=True)
class NewArticle:
    """An article to store, cut into its passages."""

    article: Article
    chunks: tuple[Chunk, ...]

    def sentences(self) -> Iterator[Sentence]:
        for chunk in self.chunks:
            yield from chunk.sentences


@dataclass(frozen=True)
class BuildPlan:
    """Everything a build changes in the build it extends, worked out before it opens: the articles it adds,
    the new versions of articles it changes, the documents whose article it drops (gone, or changed into
    something unreadable), and a vector for every sentence it stores, by ``digest`` of the sentence. With
    the model and chunking they were made with, which the build records."""

    model: str
    chunking: str
    added: tuple[NewArticle, ...]
    changed: tuple[NewArticle, ...]
    removed: tuple[str, ...]
    vectors: Mapping[str, np.ndarray]


@contextmanager
def open_build(index: LockedIndex, base: Path | None) -> Iterator[Build]:
    """A new build on top of ``base`` (a published build whose store it extends) or, with no base, in a new
    store. When the block ends the build is committed and published; when it raises, the build is forgotten
    and the previous one keeps serving. A full disk, or a store citebot may not write, is the ``OSError`` of
    the one-line disk message."""
    build = Build(index, base)
    try:
        build.begin()
        yield build
        build.commit()
        publish(index, build.folder)
    except BaseException as error:
        build.discard()
        disk = disk_os_error(error, build.database) if isinstance(error, sqlite3.Error) else None
        if disk is None:
            raise
        raise disk from None
    finally:
        build.close()


def publish(index: LockedIndex, folder: Path) -> None:
    """Point ``CURRENT`` at ``folder`` in one atomic rename: readers see the old build or the new one."""
    replace_file(index.folder / CURRENT, folder.name + "\n")


class Build:
    """A build being written: its rows in one transaction of the store, its files in a folder of its own.
    Made by ``open_build``."""

    def __init__(self, index: LockedIndex, base: Path | None) -> None:
        self.index = index
        self.base = base
        self.base_record = record = BuildRecord.read(base) if base else None
        self.base_vectors = VectorSet(base, record.segments, record.removed) if base and record else None
        self.number = (record.number if record else _published_number(index.folder)) + 1
        self.store = record.store if record else f"store-{self.number:06d}-{secrets.token_hex(4)}.sqlite"
        self.database = index.folder / self.store
        self.connection: sqlite3.Connection | None = None
        self._folder: Path | None = None
        self._info: IndexInfo | None = None
        self._removed: list[int] = []
        self._ids: list[int] = []
        self._vectors: list[np.ndarray] = []

    @property
    def folder(self) -> Path:
        """This build's folder, where its vectors, its record and its query model go."""
        assert self._folder is not None, "open_build makes the folder"
        return self._folder

    def begin(self) -> None:
        """Open the build's transaction, forget builds after the base that crashed, and make its folder."""
        self.connection = connect_to_write(self.database)
        self.connection.execute("BEGIN IMMEDIATE")
        if self.base_record is not None:
            _forget_builds_after(self.connection, self.base_record.number)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        self._folder = Path(tempfile.mkdtemp(prefix=f"{self.number:06d}-{stamp}-", dir=self.index.folder / BUILDS))

    def apply(self, plan: BuildPlan) -> IndexInfo:
        """Write the plan's rows: drop the articles it removes or changes, store the ones it adds or changes
        (in document order) with their passages and sentences, and keep their vectors for the commit.
        Returns what the build holds, as it will record it."""
        assert self._info is None, "a build applies one plan"
        self._drop([*plan.removed, *(new.article.document for new in plan.changed)])
        for new in sorted((*plan.added, *plan.changed), key=lambda new: new.article.document):
            self._store(new, plan.vectors)
        articles, passages, sentences = self._counts()
        self._info = IndexInfo(
            model=plan.model,
            dimension=self._dimension(),
            chunking=plan.chunking,
            built_at=datetime.now(UTC).isoformat(timespec="seconds"),
            articles=articles,
            passages=passages,
            sentences=sentences,
        )
        return self._info

    def commit(self) -> None:
        """Write the vectors and the build record, and commit the rows: ready to publish."""
        assert self.connection is not None and self._info is not None, "a build applies a plan before it commits"
        ids = np.asarray(self._ids, dtype=np.int64)
        vectors = np.vstack(self._vectors) if self._vectors else np.zeros((0, self._info.dimension), np.float32)
        written = write_segments(self.base_vectors, self._removed, ids, vectors, self.folder, self.number)
        BuildRecord(self.number, self.store, written.files, tuple(sorted(written.removed))).write(self.folder)
        self.connection.execute(
            "INSERT OR REPLACE INTO builds (number, info) VALUES (?, ?)", (self.number, json.dumps(asdict(self._info)))
        )
        self.connection.execute("COMMIT")

    def discard(self) -> None:
        """Forget this build: its uncommitted rows roll back, its folder goes, and so does a store it
        created; rows it committed are forgotten by the next build. A build that ``CURRENT`` names (it
        was published, then interrupted on its way out) is kept: it serves."""
        if self.connection is not None:
            with contextlib.suppress(sqlite3.Error):
                if self.connection.in_transaction:
                    self.connection.execute("ROLLBACK")
        self.close()
        if self._folder is not None and _pointer(self.index.folder) == self._folder.name:
            return
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
        if self.base is None:
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(OSError):
                    (self.index.folder / f"{self.store}{suffix}").unlink()

    def close(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(sqlite3.Error):
                self.connection.close()
            self.connection = None

    def _rows(self, sql: str, build: int, parameters: Sequence[object] = ()) -> list[tuple]:
        """Rows of ``sql``, whose ``VISIBLE`` condition is about ``build``."""
        assert self.connection is not None
        return self.connection.execute(sql, (build, *parameters)).fetchall()

    def _drop(self, documents: Sequence[str]) -> None:
        """Mark these documents' articles removed by this build; their vectors are skipped from now on."""
        if not documents or self.base_record is None:
            return
        assert self.connection is not None
        where = f"{VISIBLE} AND a.document IN ({placeholders(documents)})"
        base = self.base_record.number
        self._removed.extend(
            sentence_id
            for (sentence_id,) in self._rows(
                "SELECT s.id FROM sentences s JOIN chunks c ON c.id = s.chunk_id "
                f"JOIN articles a ON a.row = c.article WHERE {where}",
                base,
                documents,
            )
        )
        rows = [row for (row,) in self._rows(f"SELECT a.row FROM articles a WHERE {where}", base, documents)]
        self.connection.execute(
            f"UPDATE articles SET removed = ? WHERE row IN ({placeholders(rows)})", (self.number, *rows)
        )

    def _store(self, new: NewArticle, vectors: Mapping[str, np.ndarray]) -> None:
        """Store the article, its passages (and their full text) and sentences, and keep each sentence's vector."""
        assert self.connection is not None
        article = new.article
        row = self.connection.execute(
            "INSERT INTO articles (id, document, title, url, date, author, text, added) "
            "VALUES (:id, :document, :title, :url, :date, :author, :text, :added)",
            {
                "id": article.id,
                "document": article.document,
                "title": article.title,
                "url": article.url,
                "date": article.date,
                "author": article.author,
                "text": article.text,
                "added": self.number,
            },
        ).lastrowid
        for chunk in new.chunks:
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
                self._ids.append(sentence_id)
                self._vectors.append(np.asarray(vectors[sentence_digest], dtype=np.float32))

    def _counts(self) -> tuple[int, int, int]:
        """Articles, passages and sentences this build holds."""
        sql = (
            "SELECT COUNT(DISTINCT a.row), COUNT(DISTINCT c.id), COUNT(s.id) FROM articles a "
            f"LEFT JOIN chunks c ON c.article = a.row LEFT JOIN sentences s ON s.chunk_id = c.id WHERE {VISIBLE}"
        )
        articles, passages, sentences = self._rows(sql, self.number)[0]
        return articles, passages, sentences

    def _dimension(self) -> int:
        if self._vectors:
            return int(self._vectors[0].shape[0])
        if self.base is None or self.base_record is None:
            return 0
        assert self.connection is not None
        return recorded_info(self.connection, self.base_record.number, self.base).dimension


def _published_number(index_dir: Path) -> int:
    try:
        build = current_build(index_dir)
        return BuildRecord.read(build).number if build else 0
    except CitebotError:
        return 0


def _pointer(index_dir: Path) -> str | None:
    """The build folder name ``CURRENT`` holds, or None when it cannot be read."""
    try:
        return (index_dir / CURRENT).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None


def _forget_builds_after(connection: sqlite3.Connection, number: int) -> None:
    """Undo what builds after ``number`` wrote that were never published (they crashed)."""
    delete_articles(connection, "added > ?", number)
    connection.execute("UPDATE articles SET removed = NULL WHERE removed > ?", (number,))
    connection.execute("DELETE FROM builds WHERE number > ?", (number,))


def delete_articles(connection: sqlite3.Connection, where: str, number: int) -> None:
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
