"""The index on disk: SQLite is the source of truth (articles, passages, sentences, full-text
search, embedding cache, build metadata); FAISS holds only sentence vectors keyed by sentence rowid.

Each build is written into a folder of its own and published by atomically replacing the
``CURRENT`` pointer, so a reader never sees a half-built index and a crashed build leaves the
previous one serving.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import faiss
import numpy as np

from bot.errors import REBUILD_HINT, IndexCorruptError, IndexMissingError
from bot.models import Article, Chunk, IndexedArticle, IndexInfo

log = logging.getLogger(__name__)

# Questions are searched one vector at a time: FAISS's OpenMP threads then cost more than they
# save (measured on 10k sentence vectors, 2 cores: 17.8 ms a search with 2 threads, 2.5 ms with 1).
faiss.omp_set_num_threads(1)

CURRENT = "CURRENT"
BUILDS = "builds"
DATABASE = "store.sqlite"
VECTORS = "vectors.faiss"
GRAPH = "vectors.hnsw"
# Above this many sentence vectors, questions search an HNSW graph instead of every vector. Measured by
# benchmarks/scale.py (one query, 1 thread): exact search costs 1.6 ms at 30k vectors and 14 ms at 160k;
# HNSW (M=32, efConstruction=64, efSearch=256) 0.3-0.7 ms with recall@10 0.995-0.997 against exact.
APPROXIMATE_FROM = 30_000
GRAPH_NEIGHBOURS = 32
GRAPH_CONSTRUCTION_DEPTH = 64
GRAPH_SEARCH_DEPTH = 256
KEEP_BUILDS = 2

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE articles (
        id TEXT PRIMARY KEY, document TEXT NOT NULL UNIQUE, title TEXT NOT NULL,
        url TEXT, date TEXT, author TEXT, text TEXT NOT NULL
    );
    CREATE TABLE chunks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
        start INTEGER NOT NULL, end INTEGER NOT NULL, text TEXT NOT NULL
    );
    CREATE INDEX chunks_article ON chunks(article_id);
    CREATE TABLE sentences (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        chunk_id INTEGER NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
        start INTEGER NOT NULL, end INTEGER NOT NULL, text TEXT NOT NULL, digest TEXT NOT NULL
    );
    CREATE INDEX sentences_chunk ON sentences(chunk_id);
    CREATE INDEX sentences_digest ON sentences(digest);
    CREATE VIRTUAL TABLE chunks_fts USING fts5(
        text, content='chunks', content_rowid='id', tokenize='porter unicode61 remove_diacritics 2'
    );
    CREATE VIRTUAL TABLE sentences_fts USING fts5(
        text, content='sentences', content_rowid='id', tokenize='porter unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER chunks_added AFTER INSERT ON chunks BEGIN
        INSERT INTO chunks_fts (rowid, text) VALUES (new.id, new.text);
    END;
    CREATE TRIGGER chunks_removed AFTER DELETE ON chunks BEGIN
        INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END;
    CREATE TRIGGER sentences_added AFTER INSERT ON sentences BEGIN
        INSERT INTO sentences_fts (rowid, text) VALUES (new.id, new.text);
    END;
    CREATE TRIGGER sentences_removed AFTER DELETE ON sentences BEGIN
        INSERT INTO sentences_fts (sentences_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END;
    CREATE TABLE embeddings (
        model TEXT NOT NULL, digest TEXT NOT NULL, vector BLOB NOT NULL, PRIMARY KEY (model, digest)
    ) WITHOUT ROWID;
    """,
)


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


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def migrate(connection: sqlite3.Connection) -> None:
    """Bring the schema up to date through the numbered migrations."""
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        connection.executescript(script)
        connection.execute(f"PRAGMA user_version = {number:d}")


def current_build(index_dir: Path) -> Path | None:
    """The published build folder, or None when nothing was published yet."""
    try:
        name = (index_dir / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise IndexCorruptError(
            f"The index pointer {index_dir / CURRENT} is unreadable ({error}). {REBUILD_HINT}"
        ) from None
    build = index_dir / BUILDS / name
    if not name or "/" in name or not build.is_dir():
        raise IndexCorruptError(f"The index in {index_dir} points at a missing build {name!r}. {REBUILD_HINT}")
    return build


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
            f"SELECT id, article_id, start, end, text FROM chunks WHERE id IN ({_marks(wanted)})", wanted
        )
        return {row[0]: StoredChunk(*row) for row in rows}

    def sentences_of_chunks(self, chunk_ids: Iterable[int]) -> list[StoredSentence]:
        wanted = list(chunk_ids)
        rows = self._query(
            f"SELECT id, chunk_id, start, end, text FROM sentences WHERE chunk_id IN ({_marks(wanted)}) "
            "ORDER BY chunk_id, start",
            wanted,
        )
        return [StoredSentence(*row) for row in rows]

    def chunk_of_sentences(self, sentence_ids: Iterable[int]) -> dict[int, int]:
        wanted = list(sentence_ids)
        rows = self._query(f"SELECT id, chunk_id FROM sentences WHERE id IN ({_marks(wanted)})", wanted)
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


def read_graph(path: Path) -> faiss.Index:
    graph = faiss.read_index(str(path))
    faiss.downcast_index(graph.index).hnsw.efSearch = GRAPH_SEARCH_DEPTH
    return graph


def _marks(values: Sequence[object]) -> str:
    return ",".join("?" * len(values)) or "NULL"


class BuildWriter:
    """Writes one build into a fresh folder, starting empty or from a copy of an earlier build, so
    an incremental build touches only what changed. ``publish`` swaps it in, ``discard`` removes it."""

    def __init__(self, index_dir: Path, dimension: int, base: Path | None = None) -> None:
        self.index_dir = index_dir
        (index_dir / BUILDS).mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        self.build = Path(tempfile.mkdtemp(prefix=f"{stamp}-", dir=index_dir / BUILDS))
        try:
            self.base = base
            self.added: list[int] = []
            self.removed = False
            if base is not None:
                shutil.copyfile(base / DATABASE, self.build / DATABASE)
                self.vectors = faiss.read_index(str(base / VECTORS))
            else:
                self.vectors = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
            self.connection = sqlite3.connect(self.build / DATABASE)
            self.connection.execute("PRAGMA foreign_keys = ON")
            self.connection.execute("PRAGMA journal_mode = OFF")
            self.connection.execute("PRAGMA synchronous = OFF")
            migrate(self.connection)
        except BaseException:
            shutil.rmtree(self.build, ignore_errors=True)
            raise

    def articles(self) -> dict[str, str]:
        """Document path to article id, for what the build holds so far."""
        return dict(self.connection.execute("SELECT document, id FROM articles").fetchall())

    def counts(self) -> tuple[int, int, int]:
        """Articles, passages and sentences the build holds."""
        return tuple(  # type: ignore[return-value]
            self.connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("articles", "chunks", "sentences")
        )

    def remove_articles(self, documents: Sequence[str]) -> None:
        """Drop articles with their passages, sentences and vectors (full-text rows go by trigger)."""
        if not documents:
            return
        marks = _marks(documents)
        sentence_ids = [
            row[0]
            for row in self.connection.execute(
                "SELECT s.id FROM sentences s JOIN chunks c ON s.chunk_id = c.id "
                f"JOIN articles a ON c.article_id = a.id WHERE a.document IN ({marks})",
                list(documents),
            )
        ]
        if sentence_ids:
            self.vectors.remove_ids(np.asarray(sentence_ids, dtype=np.int64))
            self.removed = True
        self.connection.execute(f"DELETE FROM articles WHERE document IN ({marks})", list(documents))

    def add_article(self, article: Article, chunks: Sequence[Chunk]) -> list[tuple[int, str, str]]:
        """Store the article and its passages; returns (sentence id, digest, text) to embed."""
        self.connection.execute(
            "INSERT INTO articles (id, document, title, url, date, author, text) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (article.id, article.document, article.title, article.url, article.date, article.author, article.text),
        )
        pending = []
        for chunk in chunks:
            chunk_id = self.connection.execute(
                "INSERT INTO chunks (article_id, start, end, text) VALUES (?, ?, ?, ?)",
                (article.id, chunk.start, chunk.end, chunk.text),
            ).lastrowid
            assert chunk_id is not None
            for sentence in chunk.sentences:
                sentence_digest = digest(sentence.text)
                sentence_id = self.connection.execute(
                    "INSERT INTO sentences (chunk_id, start, end, text, digest) VALUES (?, ?, ?, ?, ?)",
                    (chunk_id, sentence.start, sentence.end, sentence.text, sentence_digest),
                ).lastrowid
                assert sentence_id is not None
                pending.append((sentence_id, sentence_digest, sentence.text))
        return pending

    def cached_embeddings(self, model: str, digests: Iterable[str]) -> dict[str, np.ndarray]:
        """Vectors this build already holds for these texts, so only new text is embedded."""
        found: dict[str, np.ndarray] = {}
        for batch in _batches(list(dict.fromkeys(digests)), 500):
            rows = self.connection.execute(
                f"SELECT digest, vector FROM embeddings WHERE model = ? AND digest IN ({_marks(batch)})",
                (model, *batch),
            )
            found.update((d, np.frombuffer(v, dtype=np.float32)) for d, v in rows)
        return found

    def cache_embeddings(self, model: str, digests: Sequence[str], vectors: np.ndarray) -> None:
        self.connection.executemany(
            "INSERT OR IGNORE INTO embeddings (model, digest, vector) VALUES (?, ?, ?)",
            ((model, d, v.astype(np.float32).tobytes()) for d, v in zip(digests, vectors, strict=True)),
        )

    def add_vectors(self, sentence_ids: Sequence[int], vectors: np.ndarray) -> None:
        if len(sentence_ids):
            self.vectors.add_with_ids(vectors, np.asarray(sentence_ids, dtype=np.int64))
            self.added.extend(int(i) for i in sentence_ids)

    def finish(self, info: IndexInfo) -> None:
        """Forget embeddings no sentence uses, record how the index was built, flush to disk."""
        self.connection.execute(
            "DELETE FROM embeddings WHERE model != ? OR digest NOT IN (SELECT digest FROM sentences)", (info.model,)
        )
        self.connection.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('info', ?)", (json.dumps(asdict(info)),)
        )
        self.connection.commit()
        self.connection.close()
        faiss.write_index(self.vectors, str(self.build / VECTORS))
        written = [self.build / DATABASE, self.build / VECTORS]
        if self.vectors.ntotal >= APPROXIMATE_FROM:
            faiss.write_index(self._graph(), str(self.build / GRAPH))
            written.append(self.build / GRAPH)
        for path in written:
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())

    def _graph(self) -> faiss.Index:
        """The HNSW graph over every vector: the base's graph grown by the new vectors when nothing
        was removed (HNSW cannot remove), else built anew from the exact index."""
        if self.base is not None and not self.removed and (self.base / GRAPH).is_file():
            graph = read_graph(self.base / GRAPH)
            if self.added:
                ids = np.asarray(self.added, dtype=np.int64)
                graph.add_with_ids(np.vstack([self.vectors.reconstruct(int(i)) for i in ids]), ids)
            return graph
        graph = faiss.IndexIDMap(faiss.IndexHNSWFlat(self.vectors.d, GRAPH_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT))
        faiss.downcast_index(graph.index).hnsw.efConstruction = GRAPH_CONSTRUCTION_DEPTH
        ids = faiss.vector_to_array(self.vectors.id_map).astype(np.int64)
        graph.add_with_ids(self.vectors.index.reconstruct_n(0, self.vectors.ntotal), ids)
        return graph

    def publish(self) -> None:
        """Point CURRENT at this build in one atomic rename, then drop builds nobody needs."""
        pointer = self.index_dir / f".{CURRENT}.{os.getpid()}"
        pointer.write_text(self.build.name + "\n", encoding="utf-8")
        os.replace(pointer, self.index_dir / CURRENT)
        prune_builds(self.index_dir)

    def discard(self) -> None:
        with contextlib.suppress(sqlite3.Error, AttributeError):
            self.connection.close()
        shutil.rmtree(self.build, ignore_errors=True)


def _batches(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def prune_builds(index_dir: Path, keep: int = KEEP_BUILDS) -> None:
    """Remove old and abandoned builds, keeping the current one and the newest before it.

    A build folder younger than an hour that is not published may still be being written by
    another process, so it is left alone.
    """
    current = current_build(index_dir)
    builds = sorted((index_dir / BUILDS).iterdir(), key=lambda path: path.name, reverse=True)
    published_before = [b for b in builds if b != current and (b / VECTORS).is_file()]
    keep_set = {current, *published_before[: keep - 1]}
    for build in builds:
        fresh = time.time() - build.stat().st_mtime < 3600
        if build not in keep_set and not (fresh and not (build / VECTORS).is_file()):
            shutil.rmtree(build, ignore_errors=True)
