"""Indexes written by earlier versions: schema migrations, and the per-build stores from before the
shared one, rebuilt without embedding again. Fast tier (hashing embedder)."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.engine import Engine
from bot.errors import IndexMismatchError
from bot.ingest.chunk import chunk
from bot.ingest.clean import clean
from bot.ingest.documents import load_article
from bot.migrations import migrate as run_migrations
from bot.migrations import schema_version
from bot.pipeline import build_index
from bot.settings import Settings
from bot.store.layout import BUILDS, CURRENT, LEGACY_DATABASE
from bot.store.schema import MIGRATIONS, migrate
from tests.conftest import ROOT, make_settings
from tests.fakes import FAKE_MODEL, HashingEmbedder


def open_engine(settings: Settings) -> Engine:
    return Engine.open(settings, HashingEmbedder(), reader=None)


def write_legacy_index(settings: Settings) -> int:
    """An index as builds before the shared store wrote it (schema 1, its own folder, an embedding
    cache); returns how many sentences it holds."""
    folder = settings.index / BUILDS / "20250101T000000-legacy"
    folder.mkdir(parents=True)
    connection = sqlite3.connect(folder / LEGACY_DATABASE)
    connection.executescript(MIGRATIONS[0])
    connection.execute("PRAGMA user_version = 1")
    embedder, count = HashingEmbedder(), 0
    for path in sorted(settings.documents.iterdir()):
        article = clean(load_article(path, path.name))
        connection.execute(
            "INSERT INTO articles (id, document, title, text) VALUES (?, ?, ?, ?)",
            (article.id, article.document, article.title, article.text),
        )
        for passage in chunk(article.text):
            chunk_id = connection.execute(
                "INSERT INTO chunks (article_id, start, end, text) VALUES (?, ?, ?, ?)",
                (article.id, passage.start, passage.end, passage.text),
            ).lastrowid
            for sentence in passage.sentences:
                full = hashlib.sha256(sentence.text.encode()).hexdigest()
                connection.execute(
                    "INSERT INTO sentences (chunk_id, start, end, text, digest) VALUES (?, ?, ?, ?, ?)",
                    (chunk_id, sentence.start, sentence.end, sentence.text, full),
                )
                connection.execute(
                    "INSERT OR IGNORE INTO embeddings VALUES (?, ?, ?)",
                    (FAKE_MODEL, full, embedder.embed([sentence.text])[0].tobytes()),
                )
                count += 1
    connection.execute("INSERT INTO meta VALUES ('info', '{}')")
    connection.commit()
    connection.close()
    (settings.index / CURRENT).write_text(folder.name + "\n")
    return count


def test_an_index_from_before_the_shared_store_is_rebuilt_without_embedding_again(tmp_path: Path) -> None:
    documents = tmp_path / "documents"
    documents.mkdir()
    (documents / "talks.md").write_text("---\ntitle: Talks\n---\nThe talks failed. The Kremlin denied it.\n")
    (documents / "truce.md").write_text("---\ntitle: Truce\n---\nThe truce held overnight in Tripoli.\n")
    settings = make_settings(documents, tmp_path / "index", model=FAKE_MODEL)
    sentences = write_legacy_index(settings)
    with pytest.raises(IndexMismatchError, match=r"older citebot\. Run `citebot index`"):
        open_engine(settings)
    report = build_index(settings, embedder=HashingEmbedder())
    assert (report.articles, report.sentences, report.embedded) == (2, sentences, 0)
    [store] = settings.index.glob("store-*.sqlite")
    with sqlite3.connect(store) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "sentences_fts" not in tables and "embeddings" not in tables
    assert open_engine(settings).search("did the truce hold?")[0].article.document == "truce.md"


def test_migrations_bring_a_schema_1_store_to_the_shared_layout(tmp_path: Path) -> None:
    connection = sqlite3.connect(tmp_path / "old.sqlite")
    connection.executescript(MIGRATIONS[0])
    connection.execute("PRAGMA user_version = 1")
    text = "The talks failed. The Kremlin denied it."
    connection.execute("INSERT INTO articles (id, document, title, text) VALUES ('a1', 'a.md', 'A', ?)", (text,))
    connection.execute("INSERT INTO chunks (article_id, start, end, text) VALUES ('a1', 0, ?, ?)", (len(text), text))
    connection.execute(
        "INSERT INTO sentences (chunk_id, start, end, text, digest) VALUES (1, 18, 40, ?, ?)", (text[18:40], "ab" * 32)
    )
    connection.execute("INSERT INTO meta VALUES ('info', '{\"model\": \"m\"}')")
    migrate(connection)
    assert connection.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')")}
    assert not {"sentences_fts", "sentences_added", "embeddings", "meta"} & tables
    assert connection.execute("SELECT row, added, removed FROM articles").fetchall() == [(1, 1, None)]
    assert connection.execute("SELECT id, article, start, end FROM chunks").fetchall() == [(1, 1, 0, len(text))]
    assert connection.execute("SELECT digest FROM sentences").fetchone()[0] == "ab" * 16
    assert connection.execute("SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH 'kremlin'").fetchall() == [(1,)]
    assert connection.execute("SELECT number, info FROM builds").fetchall() == [(1, '{"model": "m"}')]


def schema(connection: sqlite3.Connection) -> list[tuple[str, str]]:
    return connection.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()


def test_a_migration_that_fails_midway_leaves_the_version_before_it_whole(tmp_path: Path) -> None:
    migrations = (
        "CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('kept');",
        "CREATE TABLE notes_2 (body TEXT); INSERT INTO notes_2 SELECT text FROM notes; DROP TABLE notes; "
        "INSERT INTO no_such_table VALUES (1); ALTER TABLE notes_2 RENAME TO notes;",
    )
    connection = sqlite3.connect(tmp_path / "any.sqlite")
    run_migrations(connection, migrations[:1])
    before = schema(connection)
    with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
        run_migrations(connection, migrations)
    assert schema_version(connection) == 1 and not connection.in_transaction
    assert schema(connection) == before
    assert connection.execute("SELECT text FROM notes").fetchall() == [("kept",)]


CRASH_IN_MIGRATION_3 = """
import os, sqlite3, sys
from bot.migrations import migrate
from bot.store.schema import MIGRATIONS

connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.create_function("crash", 0, lambda: os._exit(3))
halfway = MIGRATIONS[2].replace("DROP TABLE articles;", "DROP TABLE articles; SELECT crash();")
assert halfway != MIGRATIONS[2]
migrate(connection, (*MIGRATIONS[:2], halfway))
"""


def test_a_crash_inside_migration_3_leaves_the_schema_2_store_whole(tmp_path: Path) -> None:
    """Migration 3 drops and renames tables: the process dies after its drops, before its renames."""
    path = tmp_path / "store.sqlite"
    connection = sqlite3.connect(path)
    run_migrations(connection, MIGRATIONS[:2])
    text = "The talks failed. The Kremlin denied it."
    connection.execute("INSERT INTO articles (id, document, title, text) VALUES ('a1', 'a.md', 'A', ?)", (text,))
    connection.execute("INSERT INTO chunks (article_id, start, end, text) VALUES ('a1', 0, ?, ?)", (len(text), text))
    connection.execute("INSERT INTO meta VALUES ('info', '{}')")
    connection.commit()
    before = schema(connection)
    connection.close()
    crashed = subprocess.run([sys.executable, "-c", CRASH_IN_MIGRATION_3, str(path)], cwd=ROOT, check=False)
    assert crashed.returncode == 3, "the migration never reached the crash"
    connection = sqlite3.connect(path)
    assert schema_version(connection) == 2
    assert schema(connection) == before
    assert connection.execute("SELECT document FROM articles").fetchall() == [("a.md",)]
    migrate(connection)
    assert schema_version(connection) == len(MIGRATIONS)
    assert connection.execute("SELECT document, added FROM articles").fetchall() == [("a.md", 1)]
