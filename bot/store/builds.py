"""Writing a build aside, publishing it in one atomic step, and pruning old ones.

Each build is written into a folder of its own and published by atomically replacing the
``CURRENT`` pointer, so a reader never sees a half-built index and a crashed build leaves the
previous one serving.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import faiss
import numpy as np

from bot.models import Article, Chunk, IndexInfo
from bot.store.schema import (
    APPROXIMATE_FROM,
    BUILDS,
    CURRENT,
    DATABASE,
    GRAPH,
    GRAPH_CONSTRUCTION_DEPTH,
    GRAPH_NEIGHBOURS,
    VECTORS,
    current_build,
    digest,
    migrate,
    placeholders,
    read_graph,
)

KEEP_BUILDS = 2


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
        marks = placeholders(documents)
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
                f"SELECT digest, vector FROM embeddings WHERE model = ? AND digest IN ({placeholders(batch)})",
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
