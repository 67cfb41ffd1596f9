"""The on-disk layout of an index and the schema of its SQLite store, changed only by numbered
migrations."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import faiss

from bot.errors import REBUILD_HINT, IndexCorruptError

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
    # 2: nothing queries sentences by full text any more; keep only the passage index.
    """
    DROP TRIGGER IF EXISTS sentences_added;
    DROP TRIGGER IF EXISTS sentences_removed;
    DROP TABLE IF EXISTS sentences_fts;
    """,
)


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


def read_graph(path: Path) -> faiss.Index:
    graph = faiss.read_index(str(path))
    faiss.downcast_index(graph.index).hnsw.efSearch = GRAPH_SEARCH_DEPTH
    return graph


def placeholders(values: Sequence[object]) -> str:
    return ",".join("?" * len(values)) or "NULL"
