"""A published build, opened read-only: SQLite is the source of truth (articles, passages,
sentences, passage full-text search, build record); FAISS holds only sentence vectors keyed by
sentence rowid."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from bot.errors import REBUILD_HINT, IndexCorruptError, IndexMissingError
from bot.models import IndexedArticle, IndexInfo
from bot.store.schema import DATABASE, GRAPH, VECTORS, current_build, placeholders, read_graph

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


class Store:
    """A published build, opened read-only; safe to query from several threads."""

    def __init__(self, build: Path) -> None:
        self.build = build
        self._local = threading.local()
        database = build / DATABASE
        if not database.is_file():
            raise IndexCorruptError(f"The index store {database} is missing. {REBUILD_HINT}")
        try:
            self.meta = dict(self._connection().execute("SELECT key, value FROM meta").fetchall())
            self.vectors = faiss.read_index(str(build / VECTORS))
            self.graph = read_graph(build / GRAPH) if (build / GRAPH).is_file() else None
        except (sqlite3.DatabaseError, RuntimeError) as error:
            raise IndexCorruptError(f"The index in {build} is damaged ({error}). {REBUILD_HINT}") from None
        if "info" not in self.meta:
            raise IndexCorruptError(f"The index in {build} has no build record. {REBUILD_HINT}")
        self.info = IndexInfo(**json.loads(self.meta["info"]))
        searched = self.graph or self.vectors
        if (
            self.vectors.ntotal != self.info.sentences
            or searched.ntotal != self.info.sentences
            or (self.vectors.d != self.info.dimension)
        ):
            raise IndexCorruptError(f"The vectors in {build} do not match its store. {REBUILD_HINT}")
        self._articles = {article.id: article for article in self._read_articles()}
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
            uri = f"file:{self.build / DATABASE}?mode=ro"
            connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
            self._local.connection = connection
        return connection

    def _query(self, sql: str, parameters: Sequence[object] = ()) -> list[tuple]:
        try:
            return self._connection().execute(sql, parameters).fetchall()
        except sqlite3.DatabaseError as error:
            raise IndexCorruptError(f"The index in {self.build} is damaged ({error}). {REBUILD_HINT}") from None

    def _read_articles(self) -> list[IndexedArticle]:
        rows = self._query(
            "SELECT a.id, a.document, a.title, a.url, a.date, a.author, a.text, COUNT(c.id) "
            "FROM articles a LEFT JOIN chunks c ON c.article_id = a.id GROUP BY a.id ORDER BY a.document"
        )
        return [IndexedArticle(*row) for row in rows]

    def articles(self) -> tuple[IndexedArticle, ...]:
        return tuple(self._articles.values())

    def article(self, article_id: str) -> IndexedArticle:
        return self._articles[article_id]

    def chunks(self, ids: Iterable[int]) -> dict[int, StoredChunk]:
        wanted = list(ids)
        rows = self._query(
            f"SELECT id, article_id, start, end, text FROM chunks WHERE id IN ({placeholders(wanted)})", wanted
        )
        return {row[0]: StoredChunk(*row) for row in rows}

    def sentences_of_chunks(self, chunk_ids: Iterable[int]) -> list[StoredSentence]:
        wanted = list(chunk_ids)
        rows = self._query(
            f"SELECT id, chunk_id, start, end, text FROM sentences WHERE chunk_id IN ({placeholders(wanted)}) "
            "ORDER BY chunk_id, start",
            wanted,
        )
        return [StoredSentence(*row) for row in rows]

    def chunk_of_sentences(self, sentence_ids: Iterable[int]) -> dict[int, int]:
        wanted = list(sentence_ids)
        rows = self._query(f"SELECT id, chunk_id FROM sentences WHERE id IN ({placeholders(wanted)})", wanted)
        return dict(rows)

    def lexical_chunks(self, match: str, limit: int) -> list[tuple[int, float]]:
        """Chunk ids by FTS5 bm25, best first, with a score where higher is better."""
        rows = self._query(
            "SELECT rowid, bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts) LIMIT ?",
            (match, limit),
        )
        return [(rowid, -score) for rowid, score in rows]

    def passage_frequency(self, term: str) -> int:
        """How many passages hold ``term`` (as FTS5 tokenises it); a build never changes, so remember it."""
        frequency = self._frequencies.get(term)
        if frequency is None:
            match = '"' + term.replace('"', '""') + '"'
            frequency = int(self._query("SELECT COUNT(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (match,))[0][0])
            self._frequencies[term] = frequency
        return frequency

    def dense_sentences(self, query: np.ndarray, limit: int) -> list[tuple[int, float]]:
        index = self.graph or self.vectors
        scores, ids = index.search(query.reshape(1, -1), min(limit, index.ntotal))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def sentence_vectors(self, ids: Sequence[int]) -> np.ndarray:
        return np.vstack([self.vectors.reconstruct(int(i)) for i in ids])
