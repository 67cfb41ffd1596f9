"""The index on disk: build records, damage, crashes, incremental builds, publishing and clean-up.

Fast tier: every index here is built with the hashing embedder.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np
import pytest

from bot.engine import Engine
from bot.errors import DocumentsError, IndexCorruptError, IndexMismatchError, IndexMissingError
from bot.pipeline import BuildReport, build_index
from bot.settings import Settings
from bot.store import builds as builds_module
from bot.store import garbage as garbage_module
from bot.store import vectors as vectors_module
from bot.store.layout import BUILD_FILE, BUILDS, CURRENT, LOCK
from bot.store.reading import Store, read_info
from bot.store.schema import current_build
from bot.store.vectors import VECTORS
from tests.conftest import ROOT, SHIPPED_DOCUMENTS, make_settings
from tests.fakes import FAKE_MODEL, HashingEmbedder

NEW_ARTICLE = "---\ntitle: New\n---\nThe Zorblat envoy said the talks failed.\n"


@pytest.fixture
def index_copy(fake_settings: Settings, tmp_path: Path) -> Settings:
    """A private copy of the fast tier's documents and index, free to change and damage."""
    shutil.copytree(fake_settings.index, tmp_path / "index")
    shutil.copytree(fake_settings.documents, tmp_path / "documents")
    return make_settings(tmp_path / "documents", tmp_path / "index", model=FAKE_MODEL)


def build(settings: Settings):
    return build_index(settings, embedder=HashingEmbedder())


def open_engine(settings: Settings) -> Engine:
    return Engine.open(settings, HashingEmbedder(), reader=None)


def database(settings: Settings) -> sqlite3.Connection:
    [path] = settings.index.glob("store-*.sqlite")
    return sqlite3.connect(path)


def test_the_build_record_is_read_without_loading_vectors(index_copy: Settings, monkeypatch) -> None:
    def no_vectors(*args: object) -> None:
        raise AssertionError("read_info loaded vectors")

    monkeypatch.setattr(faiss, "read_index", no_vectors)
    build_folder = current_build(index_copy.index)
    assert build_folder is not None
    info = read_info(build_folder)
    assert info.model == FAKE_MODEL and info.dimension == 384 and info.articles >= 1


def test_vectors_are_unit_length_and_keyed_by_sentence_rowid(fake_settings: Settings) -> None:
    store = Store.open(fake_settings.index)
    ids = [row[0] for row in store._query("SELECT id FROM sentences")]
    assert store.vectors.count == store.info.sentences == len(ids)
    vectors = store.sentence_vectors(ids)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    texts = [s.text for s in store.sentences_of_chunks(store.chunk_of_sentences(ids[:5]).values())][:1]
    assert np.allclose(vectors[0], HashingEmbedder().embed(texts)[0], atol=1e-3)


def test_passages_and_sentences_are_read_from_their_article_text(fake_settings: Settings) -> None:
    store = Store.open(fake_settings.index)
    chunks = store.chunks(range(1, 6))
    for stored in chunks.values():
        assert store.article(stored.article_id).text[stored.start : stored.end] == stored.text
    for sentence in store.sentences_of_chunks(chunks):
        assert sentence.text in chunks[sentence.chunk_id].text


def test_no_index_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(IndexMissingError, match="citebot index"):
        Store.open(tmp_path)


def damage(settings: Settings, how: str) -> None:
    build_folder = current_build(settings.index)
    assert build_folder is not None
    [store] = settings.index.glob("store-*.sqlite")
    record = json.loads((build_folder / BUILD_FILE).read_text())
    if how == "truncate vectors":
        data = (build_folder / VECTORS).read_bytes()
        (build_folder / VECTORS).write_bytes(data[: len(data) // 2])
    elif how == "garbage vectors":
        (build_folder / VECTORS).write_bytes(os.urandom(4096))
    elif how == "truncate store":
        store.write_bytes(store.read_bytes()[:1000])
    elif how == "delete store":
        store.unlink()
    elif how == "dangling pointer":
        (settings.index / CURRENT).write_text("no-such-build\n")
    elif how == "garbage build file":
        (build_folder / BUILD_FILE).write_text("{not json")
    elif how == "build file without segments":
        (build_folder / BUILD_FILE).write_text(json.dumps({k: v for k, v in record.items() if k != "segments"}))
    else:
        with sqlite3.connect(store) as connection:
            info = json.loads(connection.execute("SELECT info FROM builds").fetchone()[0])
            if how == "record with a field less":
                del info["built_at"]
            elif how == "record with an unknown field":
                info["colour"] = "blue"
            value = "{broken" if how == "unreadable record" else json.dumps(info)
            connection.execute("UPDATE builds SET info = ?", (value,))


DAMAGE = [
    "truncate vectors",
    "garbage vectors",
    "truncate store",
    "delete store",
    "dangling pointer",
    "garbage build file",
    "build file without segments",
    "record with a field less",
    "record with an unknown field",
    "unreadable record",
]


@pytest.mark.parametrize("how", DAMAGE)
def test_a_damaged_index_says_to_rebuild_and_a_build_mends_it(index_copy: Settings, how: str) -> None:
    damage(index_copy, how)
    with pytest.raises((IndexCorruptError, IndexMismatchError), match="Run `citebot index`"):
        open_engine(index_copy)
    report = build(index_copy)
    assert report.published and report.embedded > 0
    assert open_engine(index_copy).info.articles == report.articles


def test_an_index_built_with_another_model_is_refused(index_copy: Settings) -> None:
    other = index_copy.model_copy(update={"model": "sentence-transformers/all-mpnet-base-v2"})
    with pytest.raises(IndexMismatchError, match="citebot index"):
        open_engine(other)


def test_nothing_changed_publishes_nothing(index_copy: Settings) -> None:
    before = current_build(index_copy.index)
    stamp = (index_copy.index / CURRENT).stat().st_mtime_ns
    report = build(index_copy)
    assert not report.published
    assert (report.added, report.changed, report.removed, report.embedded) == (0, 0, 0, 0)
    assert report.summary() == (
        f"Index is up to date: {report.articles} articles, {report.passages} passages; nothing changed."
    )
    assert current_build(index_copy.index) == before
    assert (index_copy.index / CURRENT).stat().st_mtime_ns == stamp
    assert [p.name for p in (index_copy.index / BUILDS).iterdir()] == [before.name]


@pytest.mark.parametrize("setup", ["empty", "only binary"])
def test_no_readable_articles_is_said_before_the_model_loads(tmp_path: Path, setup: str) -> None:
    """The autouse guard fails the test if the sentence-transformers model loads."""
    (tmp_path / "documents").mkdir()
    if setup == "only binary":
        (tmp_path / "documents" / "scan.txt").write_bytes(b"\x00\x01binary\xff")
    settings = make_settings(tmp_path / "documents", tmp_path / "index")
    with pytest.raises(DocumentsError, match="No readable articles"):
        build_index(settings)
    assert not list((tmp_path / "index" / BUILDS).iterdir())


def test_a_failed_build_leaves_the_previous_index_serving(index_copy: Settings, monkeypatch) -> None:
    before = current_build(index_copy.index)
    articles = Store.open(index_copy.index).info.articles
    (index_copy.documents / "new.md").write_text(NEW_ARTICLE)

    def broken(self: HashingEmbedder, texts: object, progress: bool = False) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(HashingEmbedder, "embed", broken)
    with pytest.raises(RuntimeError, match="power cut"):
        build(index_copy)
    monkeypatch.undo()
    assert current_build(index_copy.index) == before
    assert [p.name for p in (index_copy.index / BUILDS).iterdir()] == [before.name]
    assert open_engine(index_copy).info.articles == articles
    assert build(index_copy).articles == articles + 1


def test_a_build_that_fails_after_committing_is_forgotten_by_the_next(index_copy: Settings, monkeypatch) -> None:
    before = current_build(index_copy.index)
    articles = Store.open(index_copy.index).info.articles
    (index_copy.documents / "new.md").write_text(NEW_ARTICLE)

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(builds_module, "publish", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build(index_copy)
    monkeypatch.undo()
    assert current_build(index_copy.index) == before
    store = Store.open(index_copy.index)
    assert store.info.articles == articles and not store.lexical_chunks('"zorblat"', 10)
    (index_copy.documents / "new.md").unlink()
    report = build(index_copy)
    assert not report.published and report.articles == articles
    (index_copy.documents / "new.md").write_text(NEW_ARTICLE)
    assert build(index_copy).articles == articles + 1
    with database(index_copy) as connection:
        assert connection.execute("SELECT COUNT(*) FROM articles WHERE document = 'new.md'").fetchone()[0] == 1


def test_a_build_that_fails_while_open_rolls_back_its_rows_and_folder(index_copy: Settings, monkeypatch) -> None:
    before = current_build(index_copy.index)
    (index_copy.documents / "new.md").write_text(NEW_ARTICLE)

    def broken(*args: object) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr("bot.pipeline.reuse_or_export", broken)
    with pytest.raises(RuntimeError, match="power cut"):
        build(index_copy)
    assert current_build(index_copy.index) == before
    assert [p.name for p in (index_copy.index / BUILDS).iterdir()] == [before.name]
    with database(index_copy) as connection:
        assert connection.execute("SELECT COUNT(*) FROM articles WHERE document = 'new.md'").fetchone()[0] == 0


def test_ctrl_c_while_collecting_garbage_leaves_the_new_build_serving(index_copy: Settings, monkeypatch) -> None:
    articles = Store.open(index_copy.index).info.articles
    (index_copy.documents / "new.md").write_text(NEW_ARTICLE)

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("bot.pipeline.collect_garbage", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build(index_copy)
    monkeypatch.undo()
    assert open_engine(index_copy).info.articles == articles + 1
    assert not build(index_copy).published


KILLED_BUILD = """
import sys, pathlib
from bot.pipeline import build_index
from bot.settings import Settings
from bot.store import builds
from tests.fakes import HashingEmbedder

marker = pathlib.Path(sys.argv[3])

def wait_to_be_killed(*args, **kwargs):
    marker.write_text("now")
    while True:
        pass

if sys.argv[4] == "while embedding":
    HashingEmbedder.embed = wait_to_be_killed
else:
    builds.publish = wait_to_be_killed
settings = Settings(documents=sys.argv[1], index=sys.argv[2], model="test/hashing-embedder", _env_file=None)
build_index(settings, embedder=HashingEmbedder())
"""


@pytest.mark.parametrize("moment", ["while embedding", "after committing, before publishing"])
def test_a_build_killed_midway_leaves_the_previous_index_serving(index_copy: Settings, moment: str) -> None:
    """kill -9 a build at a known moment (it says when it got there), then ask and build again."""
    before = current_build(index_copy.index)
    articles = Store.open(index_copy.index).info.articles
    (index_copy.documents / "new.md").write_text(NEW_ARTICLE)
    marker = index_copy.index.parent / "reached"
    arguments = [str(index_copy.documents), str(index_copy.index), str(marker), moment]
    process = subprocess.Popen([sys.executable, "-c", KILLED_BUILD, *arguments], cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "the build never reached the moment to kill it"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert current_build(index_copy.index) == before
    engine = open_engine(index_copy)
    assert engine.info.articles == articles
    assert engine.ask("who denied the Wagner claims?").answered
    assert build(index_copy).articles == articles + 1


def waiting_for_lock(inode: int) -> bool:
    """Whether some process waits for a lock on this file (Linux lists blocked requests with ->)."""
    return any("->" in line and line.split()[6].endswith(f":{inode}") for line in open("/proc/locks"))


def test_builds_of_one_index_take_turns(index_copy: Settings) -> None:
    """A second build waits for the first to finish, then builds on what it published."""
    articles = Store.open(index_copy.index).info.articles
    (index_copy.documents / "new.md").write_text(NEW_ARTICLE)
    finished = threading.Event()

    def second_build() -> None:
        build(index_copy)
        finished.set()

    with open(index_copy.index / LOCK) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        thread = threading.Thread(target=second_build)
        thread.start()
        inode = os.fstat(lock.fileno()).st_ino
        deadline = time.monotonic() + 60
        while not waiting_for_lock(inode) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert waiting_for_lock(inode) and not finished.is_set()
        fcntl.flock(lock, fcntl.LOCK_UN)
    thread.join(timeout=60)
    assert finished.is_set() and Store.open(index_copy.index).info.articles == articles + 1


def test_a_build_interrupted_right_after_publishing_keeps_serving(index_copy: Settings, monkeypatch) -> None:
    articles = Store.open(index_copy.index).info.articles
    (index_copy.documents / "new.md").write_text(NEW_ARTICLE)
    replace_file = builds_module.replace_file

    def replaced_then_interrupted(path: Path, text: str) -> None:
        replace_file(path, text)
        raise KeyboardInterrupt

    monkeypatch.setattr(builds_module, "replace_file", replaced_then_interrupted)
    with pytest.raises(KeyboardInterrupt):
        build(index_copy)
    monkeypatch.undo()
    assert open_engine(index_copy).info.articles == articles + 1


def test_a_build_that_waited_for_the_lock_builds_on_what_the_first_published(index_copy: Settings) -> None:
    """The second build reads the published build and its articles only once it holds the lock: it adds
    its own article, and neither undoes nor repeats the first build's."""
    articles = Store.open(index_copy.index).info.articles
    (index_copy.documents / "first.md").write_text(NEW_ARTICLE)
    embedding, go_on = threading.Event(), threading.Event()

    class SlowEmbedder(HashingEmbedder):
        def embed(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
            embedding.set()
            go_on.wait(60)
            return super().embed(texts, progress)

    reports: dict[str, BuildReport] = {}
    first = threading.Thread(target=lambda: reports.update(first=build_index(index_copy, embedder=SlowEmbedder())))
    first.start()
    assert embedding.wait(60)
    (index_copy.documents / "second.md").write_text("---\ntitle: Second\n---\nThe Quorvan delegation left.\n")
    second = threading.Thread(target=lambda: reports.update(second=build(index_copy)))
    second.start()
    inode = os.stat(index_copy.index / LOCK).st_ino
    deadline = time.monotonic() + 60
    while not waiting_for_lock(inode) and time.monotonic() < deadline:
        time.sleep(0.01)
    go_on.set()
    first.join(60)
    second.join(60)
    report = reports["second"]
    assert (report.added, report.unchanged, report.embedded) == (1, articles + 1, 1)
    assert Store.open(index_copy.index).info.articles == articles + 2


def test_only_new_and_changed_articles_are_embedded(index_copy: Settings) -> None:
    articles = Store.open(index_copy.index).info.articles
    (index_copy.documents / "new.md").write_text(NEW_ARTICLE)
    report = build(index_copy)
    assert (report.added, report.unchanged, report.embedded) == (1, articles, 1)
    (index_copy.documents / "new.md").write_text(NEW_ARTICLE + "A second sentence is new to the collection.\n")
    report = build(index_copy)
    assert (report.changed, report.embedded) == (1, 1)
    (index_copy.documents / "new.md").unlink()
    report = build(index_copy)
    assert (report.removed, report.articles, report.embedded) == (1, articles, 0)
    store = Store.open(index_copy.index)
    assert store.vectors.count == store.info.sentences
    assert not store.lexical_chunks('"zorblat"', 10)
    ids = {hit.id for hit in store.dense_sentences(HashingEmbedder().embed(["The Zorblat envoy said"])[0], 1000)}
    assert set(store.chunk_of_sentences(ids)) == ids


def test_publishing_links_what_it_does_not_change(index_copy: Settings) -> None:
    before = current_build(index_copy.index)
    (index_copy.documents / "new.md").write_text(NEW_ARTICLE)
    build(index_copy)
    after = current_build(index_copy.index)
    assert after != before
    assert (after / VECTORS).stat().st_ino == (before / VECTORS).stat().st_ino
    assert len(list(index_copy.index.glob("store-*.sqlite"))) == 1


def test_old_builds_and_the_rows_only_they_see_are_removed(index_copy: Settings) -> None:
    for round_ in range(3):
        (index_copy.documents / "new.md").write_text(NEW_ARTICLE + f"Round {round_} of the talks.\n")
        build(index_copy)
    assert len(list((index_copy.index / BUILDS).iterdir())) == garbage_module.KEEP_BUILDS
    with database(index_copy) as connection:
        versions = connection.execute("SELECT COUNT(*) FROM articles WHERE document = 'new.md'").fetchone()[0]
    assert versions == 2, "the published article and the one the build before it still serves"
    with database(index_copy) as connection:
        known = {row[0] for row in connection.execute("SELECT number FROM builds")}
    assert len(known) == garbage_module.KEEP_BUILDS


def test_many_small_builds_keep_few_segments(index_copy: Settings) -> None:
    for round_ in range(vectors_module.MAX_SEGMENTS + 3):
        (index_copy.documents / f"new-{round_}.md").write_text(f"---\ntitle: {round_}\n---\nTalks, round {round_}.\n")
        build(index_copy)
        store = Store.open(index_copy.index)
        assert len(store.record.segments) < vectors_module.MAX_SEGMENTS + 1
        assert store.vectors.count == store.info.sentences


def test_an_engine_swaps_in_a_new_index_between_questions(index_copy: Settings) -> None:
    engine = open_engine(index_copy)
    articles = engine.info.articles
    assert not engine.refresh()
    (index_copy.documents / "new.md").write_text(
        "---\ntitle: Geneva\n---\nThe Geneva ceasefire talks collapsed on Tuesday after four hours.\n"
    )
    build(index_copy)
    assert engine.info.articles == articles
    assert engine.refresh()
    assert engine.info.articles == articles + 1
    assert engine.search("when did the Geneva ceasefire talks collapse?")[0].article.document == "new.md"


def test_shipped_documents_are_the_seed_as_it_is() -> None:
    seed = next((ROOT.parent / "shared" / "seeds").glob("*.txt"), None)
    if seed is None:
        pytest.skip("../shared/seeds is not beside this clone")
    assert (SHIPPED_DOCUMENTS / seed.name).read_bytes() == seed.read_bytes()


def agrees_with_exact_search(store: Store, query: np.ndarray, k: int = 10) -> bool:
    """The k best scores found equal the k best over every live vector (ties may swap ids)."""
    ids = [row[0] for row in store._query("SELECT id FROM sentences") if row[0] not in store.vectors.removed]
    live = [i for i in ids if i in set(store.chunk_of_sentences(ids))]
    exact = np.sort(store.sentence_vectors(live) @ query)[::-1][:k]
    found = [hit.score for hit in store.dense_sentences(query, k)]
    return bool(np.allclose(found, exact, atol=1e-4))


def test_a_large_index_searches_an_approximate_graph_that_agrees_with_exact_search(
    index_copy: Settings, monkeypatch
) -> None:
    """From APPROXIMATE_FROM vectors on, a build writes an HNSW graph; small here, so the test is quick."""
    monkeypatch.setattr(vectors_module, "APPROXIMATE_FROM", 10)
    query = HashingEmbedder().embed(["who denied the Wagner claims?"])[0]
    (index_copy.documents / "new.md").write_text("---\ntitle: New\n---\nThe Geneva talks failed on Tuesday.\n")
    build(index_copy)
    store = Store.open(index_copy.index)
    assert [segment.graph for segment in store.record.segments] == [True]
    assert agrees_with_exact_search(store, query)
    (index_copy.documents / "newer.md").write_text("---\ntitle: Newer\n---\nThe ceasefire held overnight.\n")
    build(index_copy)
    grown = Store.open(index_copy.index)
    assert grown.vectors.count == grown.info.sentences == store.info.sentences + 1
    (index_copy.documents / "new.md").unlink()
    build(index_copy)
    shrunk = Store.open(index_copy.index)
    assert shrunk.vectors.count == shrunk.info.sentences == store.info.sentences
    found = [hit.id for hit in shrunk.dense_sentences(query, 10)]
    assert not set(found) & shrunk.vectors.removed
    assert agrees_with_exact_search(shrunk, query)
    assert open_engine(index_copy).ask("who denied the Wagner claims?").answered
