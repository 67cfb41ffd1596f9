"""The schema of the SQLite store, changed only by numbered migrations; the build record; the pointer
to the published build. Where each file lies: ``bot.store.layout``."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from bot.errors import REBUILD_HINT, IndexCorruptError, IndexMismatchError
from bot.migrations import migrate as run_migrations
from bot.store.durable import fsync_file
from bot.store.layout import BUILD_FILE, BUILDS, CURRENT, LEGACY_DATABASE

# An article row is visible to build N when it was added by N or earlier and not removed by N or
# earlier. N is the first parameter (?1): put this condition before any other ``?`` in a query.
VISIBLE = "a.added <= ?1 AND (a.removed IS NULL OR a.removed > ?1)"

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
    # 3: one store for all builds. Article rows carry the build that added and the one that removed
    # them; passages and sentences keep only offsets into their article's text (stored once); the
    # passage full-text index is contentless; vectors live only in FAISS (the embedding cache went:
    # a sentence's vector is found through another sentence with the same digest); build records
    # get a table. Existing rows become build 1's.
    """
    CREATE TABLE builds (number INTEGER PRIMARY KEY, info TEXT NOT NULL);
    INSERT INTO builds (number, info) SELECT 1, value FROM meta WHERE key = 'info';
    DROP TABLE meta;
    CREATE TABLE articles_3 (
        row INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, document TEXT NOT NULL,
        title TEXT NOT NULL, url TEXT, date TEXT, author TEXT, text TEXT NOT NULL,
        added INTEGER NOT NULL, removed INTEGER
    );
    INSERT INTO articles_3 (id, document, title, url, date, author, text, added)
        SELECT id, document, title, url, date, author, text, 1 FROM articles ORDER BY document;
    CREATE TABLE chunks_3 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        article INTEGER NOT NULL REFERENCES articles_3(row) ON DELETE CASCADE,
        start INTEGER NOT NULL, end INTEGER NOT NULL
    );
    INSERT INTO chunks_3 (id, article, start, end)
        SELECT c.id, a.row, c.start, c.end FROM chunks c JOIN articles_3 a ON a.id = c.article_id;
    CREATE TABLE sentences_3 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        chunk_id INTEGER NOT NULL REFERENCES chunks_3(id) ON DELETE CASCADE,
        start INTEGER NOT NULL, end INTEGER NOT NULL, digest TEXT NOT NULL
    );
    INSERT INTO sentences_3 (id, chunk_id, start, end, digest)
        SELECT id, chunk_id, start, end, substr(digest, 1, 32) FROM sentences;
    DROP TABLE chunks_fts;
    DROP TABLE sentences;
    DROP TABLE chunks;
    DROP TABLE articles;
    DROP TABLE embeddings;
    ALTER TABLE articles_3 RENAME TO articles;
    ALTER TABLE chunks_3 RENAME TO chunks;
    ALTER TABLE sentences_3 RENAME TO sentences;
    CREATE INDEX articles_document ON articles(document);
    CREATE INDEX chunks_article ON chunks(article);
    CREATE INDEX sentences_chunk ON sentences(chunk_id);
    CREATE INDEX sentences_digest ON sentences(digest);
    CREATE VIRTUAL TABLE chunks_fts USING fts5(
        text, content='', tokenize='porter unicode61 remove_diacritics 2'
    );
    INSERT INTO chunks_fts (rowid, text)
        SELECT c.id, substr(a.text, c.start + 1, c.end - c.start) FROM chunks c JOIN articles a ON a.row = c.article;
    """,
)


@dataclass(frozen=True)
class SegmentFile:
    """One FAISS file of a build's vectors: its name in the build folder, how many vectors it
    stores, and whether it is an HNSW graph (searched approximately) or searched exactly."""

    file: str
    count: int
    graph: bool
    size: int


@dataclass(frozen=True)
class BuildRecord:
    """What ``build.json`` says: the build's number, its store, and its vectors. ``removed`` are
    sentence ids its segments still hold but that it no longer contains."""

    number: int
    store: str
    segments: tuple[SegmentFile, ...]
    removed: tuple[int, ...]

    @classmethod
    def read(cls, build: Path) -> BuildRecord:
        path = build / BUILD_FILE
        if not path.is_file() and (build / LEGACY_DATABASE).is_file():
            raise IndexMismatchError(f"The index in {build} was written by an older citebot. {REBUILD_HINT}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                number=int(data["number"]),
                store=str(data["store"]),
                segments=tuple(SegmentFile(**segment) for segment in data["segments"]),
                removed=tuple(int(i) for i in data["removed"]),
            )
        except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError) as error:
            raise IndexCorruptError(f"The build record {path} is unreadable ({error}). {REBUILD_HINT}") from None

    def intact(self, build: Path) -> bool:
        """Whether the build's files are all there at their recorded sizes (a cheap check that
        finds truncated or replaced files without reading them)."""
        try:
            return self.database(build).is_file() and all(
                (build / segment.file).stat().st_size == segment.size for segment in self.segments
            )
        except OSError:
            return False

    def write(self, build: Path) -> None:
        """Write ``build.json`` and put it on disk: the build may be published next."""
        (build / BUILD_FILE).write_text(json.dumps(asdict(self)) + "\n", encoding="utf-8")
        fsync_file(build / BUILD_FILE)

    def database(self, build: Path) -> Path:
        return build.parent.parent / self.store


def digest(text: str) -> str:
    """A 128-bit content hash: sentences with the same digest share one vector."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def migrate(connection: sqlite3.Connection) -> None:
    """Bring the store's schema up to date through its numbered migrations."""
    run_migrations(connection, MIGRATIONS)


def connect_to_write(database: Path) -> sqlite3.Connection:
    """The store, opened by the one process that writes the index (it holds the build lock): in autocommit
    mode, so the writer says where each transaction begins; WAL, so readers of the published build never
    wait for it; each commit on disk before it returns; the schema up to date."""
    connection = sqlite3.connect(database, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = FULL")
        connection.execute("PRAGMA foreign_keys = ON")
        migrate(connection)
    except BaseException:
        connection.close()
        raise
    return connection


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


def placeholders(values: Sequence[object]) -> str:
    return ",".join("?" * len(values)) or "NULL"
