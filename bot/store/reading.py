"""A published build, opened read-only: SQLite is the source of truth (articles, passages,
sentences, passage full-text search, build records); FAISS holds only sentence vectors keyed by
sentence rowid. The store is shared by the builds, so every query keeps to this build's rows."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from bot.errors import REBUILD_HINT, IndexCorruptError, IndexMismatchError, IndexMissingError
from bot.models import IndexedArticle, IndexInfo
from bot.store.schema import VISIBLE, BuildRecord, current_build, placeholders
from bot.store.vectors import Hit, VectorSet

# Questions are searched one vector at a time: FAISS's OpenMP threads then cost more than they
# save (measured on 10k sentence vectors, 2 cores: 17.8 ms a search with 2 threads, 2.5 ms with 1).
faiss.omp_set_num_threads(1)


@dataclass(frozen=True)
class StoredChunk:
    id: int
    article_id: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class StoredSentence:
    id: int
    chunk_id: int
    start: int
    end: int
    text: str


LEGACY_FIELDS = ("min_score",)
"""Recorded by builds from before the thresholds lived in one file (``bot/read/thresholds.py``) alone."""


def connect_read_only(database: Path) -> sqlite3.Connection:
    """The store, read-only. In a folder citebot may not write (a read-only mount, another user's index)
    SQLite cannot make the shared-memory file a WAL database needs, so such a store, whose last writer
    has finished (no ``-wal`` file left), is opened as immutable: read without any locking files."""
    if not database.is_file():
        raise IndexCorruptError(f"The index store {database} is missing. {REBUILD_HINT}")
    uri = f"{database.absolute().as_uri()}?mode=ro"
    if not os.access(database.parent, os.W_OK) and not database.with_name(f"{database.name}-wal").exists():
        uri += "&immutable=1"
    return sqlite3.connect(uri, uri=True, check_same_thread=False)


def recorded_info(connection: sqlite3.Connection, number: int, where: Path) -> IndexInfo:
    """The build record of build ``number``; an unreadable or outdated one says to rebuild."""
    try:
        row = connection.execute("SELECT info FROM builds WHERE number = ?", (number,)).fetchone()
    except sqlite3.DatabaseError as error:
        raise IndexCorruptError(f"The index in {where} is damaged ({error}). {REBUILD_HINT}") from None
    if row is None:
        raise IndexCorruptError(f"The index in {where} has no build record. {REBUILD_HINT}")
    try:
        fields = json.loads(row[0])
    except ValueError:
        raise IndexCorruptError(f"The build record of {where} is unreadable. {REBUILD_HINT}") from None
    for legacy in LEGACY_FIELDS:
        fields.pop(legacy, None)
    try:
        return IndexInfo(**fields)
    except TypeError:
        raise IndexMismatchError(f"The index in {where} was recorded by another citebot. {REBUILD_HINT}") from None


def read_info(build: Path) -> IndexInfo:
    """How ``build`` was built, read from SQLite alone: no vectors are loaded."""
    record = BuildRecord.read(build)
    connection = connect_read_only(record.database(build))
    try:
        return recorded_info(connection, record.number, build)
    finally:
        connection.close()


class Store:
    """A published build, opened read-only; safe to query from several threads."""

    def __init__(self, build: Path) -> None:
        self.build = build
        self.record = BuildRecord.read(build)
        self.database = self.record.database(build)
        self._local = threading.local()
        self.info = recorded_info(self._connection(), self.record.number, build)
        self.vectors = VectorSet(build, self.record.segments, self.record.removed)
        self.vectors.segments()
        if self.vectors.count != self.info.sentences or self.vectors.dimension not in (None, self.info.dimension):
            raise IndexCorruptError(f"The vectors in {build} do not match its store. {REBUILD_HINT}")
        articles = self._query(
            "SELECT a.row, a.id, a.document, a.title, a.url, a.date, a.author, a.text, COUNT(c.id) AS passages "
            f"FROM articles a LEFT JOIN chunks c ON c.article = a.row WHERE {VISIBLE} "
            "GROUP BY a.row ORDER BY a.document",
            (self.record.number,),
        )
        self._by_row = {row["row"]: _indexed_article(row) for row in articles}
        self._articles = {article.id: article for article in self._by_row.values()}
        self._live_chunks = frozenset(
            row[0]
            for row in self._query(
                f"SELECT c.id FROM chunks c JOIN articles a ON a.row = c.article WHERE {VISIBLE}", (self.record.number,)
            )
        )
        self._every_chunk_live = self._query("SELECT COUNT(*) FROM chunks")[0][0] == len(self._live_chunks)
        self._frequencies: dict[str, int] = {}

    @classmethod
    def open(cls, index_dir: Path) -> Store:
        build = current_build(index_dir)
        if build is None:
            raise IndexMissingError(f"There is no index in {index_dir} yet. Run `citebot index` to build it.")
        return cls(build)

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = connect_read_only(self.database)
            connection.row_factory = sqlite3.Row
            self._local.connection = connection
        return connection

    def _query(self, sql: str, parameters: Sequence[object] = ()) -> list[sqlite3.Row]:
        try:
            return self._connection().execute(sql, parameters).fetchall()
        except sqlite3.DatabaseError as error:
            raise IndexCorruptError(f"The index in {self.build} is damaged ({error}). {REBUILD_HINT}") from None

    def articles(self) -> tuple[IndexedArticle, ...]:
        return tuple(self._articles.values())

    def article(self, article_id: str) -> IndexedArticle:
        return self._articles[article_id]

    def chunks(self, ids: Iterable[int]) -> dict[int, StoredChunk]:
        wanted = list(ids)
        rows = self._query(f"SELECT id, article, start, end FROM chunks WHERE id IN ({placeholders(wanted)})", wanted)
        chunks = {}
        for chunk_id, row, start, end in rows:
            article = self._by_row[row]
            chunks[chunk_id] = StoredChunk(chunk_id, article.id, start, end, article.text[start:end])
        return chunks

    def sentences_of_chunks(self, chunk_ids: Iterable[int]) -> list[StoredSentence]:
        wanted = list(chunk_ids)
        rows = self._query(
            "SELECT s.id, s.chunk_id, s.start, s.end, c.article FROM sentences s JOIN chunks c ON c.id = s.chunk_id "
            f"WHERE s.chunk_id IN ({placeholders(wanted)}) ORDER BY s.chunk_id, s.start",
            wanted,
        )
        return [
            StoredSentence(sentence_id, chunk_id, start, end, self._by_row[row].text[start:end])
            for sentence_id, chunk_id, start, end, row in rows
        ]

    def chunk_of_sentences(self, sentence_ids: Iterable[int]) -> dict[int, int]:
        wanted = list(sentence_ids)
        rows = self._query(f"SELECT id, chunk_id FROM sentences WHERE id IN ({placeholders(wanted)})", wanted)
        return {sentence_id: chunk_id for sentence_id, chunk_id in rows}

    def lexical_chunks(self, match: str, limit: int) -> list[Hit]:
        """Passages by FTS5 bm25, best first, with a score where higher is better. The full-text
        index also holds passages of other builds that the store keeps; they are skipped."""
        fetch = limit
        while True:
            rows = self._query(
                "SELECT rowid, bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? "
                "ORDER BY bm25(chunks_fts) LIMIT ?",
                (match, fetch),
            )
            hits = [Hit(rowid, -score) for rowid, score in rows if rowid in self._live_chunks]
            if len(hits) >= limit or len(rows) < fetch:
                return hits[:limit]
            fetch *= 4

    def passage_frequency(self, term: str) -> int:
        """How many passages hold ``term`` (as FTS5 tokenises it); a build never changes, so remember it."""
        frequency = self._frequencies.get(term)
        if frequency is None:
            match = '"' + term.replace('"', '""') + '"'
            if self._every_chunk_live:
                frequency = int(self._query("SELECT COUNT(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (match,))[0][0])
            else:
                rows = self._query("SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?", (match,))
                frequency = sum(row[0] in self._live_chunks for row in rows)
            self._frequencies[term] = frequency
        return frequency

    def dense_sentences(self, query: np.ndarray, limit: int) -> list[Hit]:
        return self.vectors.search(query, limit)

    def sentence_vectors(self, ids: Sequence[int]) -> np.ndarray:
        return self.vectors.reconstruct(ids)


def _indexed_article(row: sqlite3.Row) -> IndexedArticle:
    return IndexedArticle(
        id=row["id"],
        document=row["document"],
        title=row["title"],
        url=row["url"],
        date=row["date"],
        author=row["author"],
        text=row["text"],
        passages=row["passages"],
    )
