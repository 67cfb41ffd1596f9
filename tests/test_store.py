import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bot.errors import IndexCorruptError, IndexMismatchError, IndexMissingError
from bot.pipeline import Engine, build_index
from bot.store.reading import Store
from bot.store.schema import BUILDS, CURRENT, DATABASE, VECTORS, current_build
from tests.conftest import ROOT, SHIPPED_DOCUMENTS, make_settings


@pytest.fixture
def index_copy(shipped_settings, tmp_path: Path):
    """A private copy of the shipped documents and index, free to change and damage."""
    shutil.copytree(shipped_settings.index, tmp_path / "index")
    shutil.copytree(shipped_settings.documents, tmp_path / "documents")
    return make_settings(tmp_path / "documents", tmp_path / "index")


def test_the_published_build_records_how_it_was_built(shipped_settings) -> None:
    store = Store.open(shipped_settings.index)
    assert store.info.model == "sentence-transformers/all-MiniLM-L6-v2"
    assert store.info.dimension == 384 and store.vectors.ntotal == store.info.sentences
    assert store.info.articles == 1 and store.info.passages > 10
    assert 0 < store.info.min_score < 1


def test_vectors_are_unit_length_and_keyed_by_sentence_rowid(shipped_settings) -> None:
    store = Store.open(shipped_settings.index)
    ids = [row[0] for row in store._query("SELECT id FROM sentences")]
    vectors = store.sentence_vectors(ids)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_no_index_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(IndexMissingError, match="citebot index"):
        Store.open(tmp_path)


@pytest.mark.parametrize(
    "damage", ["truncate vectors", "garbage vectors", "truncate store", "delete store", "dangling pointer"]
)
def test_a_damaged_index_says_to_rebuild(index_copy, damage: str) -> None:
    build = current_build(index_copy.index)
    assert build is not None
    if damage == "truncate vectors":
        data = (build / VECTORS).read_bytes()
        (build / VECTORS).write_bytes(data[: len(data) // 2])
    elif damage == "garbage vectors":
        (build / VECTORS).write_bytes(os.urandom(4096))
    elif damage == "truncate store":
        (build / DATABASE).write_bytes((build / DATABASE).read_bytes()[:1000])
    elif damage == "delete store":
        (build / DATABASE).unlink()
    else:
        (index_copy.index / CURRENT).write_text("no-such-build\n")
    with pytest.raises(IndexCorruptError, match="citebot index"):
        Engine.open(index_copy)


def test_an_index_built_with_another_model_is_refused(index_copy) -> None:
    other = index_copy.model_copy(update={"model": "sentence-transformers/all-mpnet-base-v2"})
    with pytest.raises(IndexMismatchError, match="citebot index"):
        Engine.open(other)


def test_a_failed_build_leaves_the_previous_index_serving(index_copy, embedder, monkeypatch) -> None:
    before = current_build(index_copy.index)
    (index_copy.documents / "new.md").write_text("---\ntitle: New\n---\nThe Kremlin said the talks failed.\n")

    def broken(texts, progress=False):
        raise RuntimeError("power cut")

    monkeypatch.setattr(embedder, "embed", broken)
    with pytest.raises(RuntimeError, match="power cut"):
        build_index(index_copy, embedder=embedder)
    (index_copy.documents / "new.md").unlink()
    assert current_build(index_copy.index) == before
    assert [p.name for p in (index_copy.index / BUILDS).iterdir()] == [before.name]


def test_a_build_killed_midway_leaves_the_previous_index_serving(index_copy, engine) -> None:
    """kill -9 a real `citebot index` while it embeds, then ask."""
    before = current_build(index_copy.index)
    for n in range(40):
        (index_copy.documents / f"extra-{n}.txt").write_text(
            " ".join(f"Sentence {n}-{m} about the talks in Geneva and the ceasefire." for m in range(60))
        )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bot",
            "index",
            "--documents",
            str(index_copy.documents),
            "--index",
            str(index_copy.index),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list((index_copy.index / BUILDS).iterdir())) < 2:
        time.sleep(0.05)
    time.sleep(0.5)
    assert process.poll() is None, "the build finished before it could be killed: give it more to embed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert current_build(index_copy.index) == before
    answer = Engine.open(index_copy, engine.embedder).ask("who denied the Wagner claims?")
    assert answer.answered


def test_rebuilding_with_nothing_changed_embeds_nothing(index_copy, embedder) -> None:
    report = build_index(index_copy, embedder=embedder)
    assert (report.added, report.changed, report.removed, report.unchanged, report.embedded) == (0, 0, 0, 1, 0)


def test_only_new_and_changed_articles_are_embedded(index_copy, embedder) -> None:
    (index_copy.documents / "new.md").write_text("---\ntitle: New\n---\nThe Kremlin said the talks failed.\n")
    report = build_index(index_copy, embedder=embedder)
    assert (report.added, report.unchanged, report.embedded) == (1, 1, 1)
    (index_copy.documents / "new.md").write_text(
        "---\ntitle: New\n---\nThe Kremlin said the talks failed. A second sentence is new.\n"
    )
    report = build_index(index_copy, embedder=embedder)
    assert (report.changed, report.embedded) == (1, 1)
    (index_copy.documents / "new.md").unlink()
    report = build_index(index_copy, embedder=embedder)
    assert (report.removed, report.articles, report.embedded) == (1, 1, 0)
    store = Store.open(index_copy.index)
    assert store.vectors.ntotal == store.info.sentences
    assert store.lexical_chunks('"kremlin"', 10)
    assert not store.lexical_chunks('"second"', 10)


def test_an_engine_swaps_in_a_new_index_between_questions(index_copy, embedder) -> None:
    engine = Engine.open(index_copy, embedder)
    assert not engine.refresh()
    (index_copy.documents / "new.md").write_text(
        "---\ntitle: Geneva\n---\nThe Geneva ceasefire talks collapsed on Tuesday after four hours.\n"
    )
    build_index(index_copy, embedder=embedder)
    assert engine.info.articles == 1
    assert engine.refresh()
    assert engine.info.articles == 2
    assert engine.ask("when did the Geneva ceasefire talks collapse?").citations[0].document == "new.md"


def test_shipped_documents_are_the_seed_as_it_is() -> None:
    seed = next((ROOT.parent / "shared" / "seeds").glob("*.txt"), None)
    if seed is None:
        pytest.skip("../shared/seeds is not beside this clone")
    assert (SHIPPED_DOCUMENTS / seed.name).read_bytes() == seed.read_bytes()


def test_a_large_index_searches_an_approximate_graph_that_agrees_with_exact_search(
    index_copy, embedder, monkeypatch
) -> None:
    """Above APPROXIMATE_FROM vectors the build adds an HNSW graph; small here, so the test is quick."""
    monkeypatch.setattr("bot.store.builds.APPROXIMATE_FROM", 10)
    (index_copy.documents / "new.md").write_text("---\ntitle: New\n---\nThe Geneva talks failed on Tuesday.\n")
    build_index(index_copy, embedder=embedder)
    store = Store.open(index_copy.index)
    assert store.graph is not None and store.graph.ntotal == store.vectors.ntotal == store.info.sentences
    query = embedder.embed(["who denied the Wagner claims?"])[0]
    exact = store.vectors.search(query.reshape(1, -1), 10)[1][0].tolist()
    assert [i for i, _ in store.dense_sentences(query, 10)] == exact
    (index_copy.documents / "newer.md").write_text("---\ntitle: Newer\n---\nThe ceasefire held overnight.\n")
    build_index(index_copy, embedder=embedder)
    grown = Store.open(index_copy.index)
    assert grown.graph.ntotal == grown.info.sentences == store.info.sentences + 1
    (index_copy.documents / "new.md").unlink()
    build_index(index_copy, embedder=embedder)
    rebuilt = Store.open(index_copy.index)
    assert rebuilt.graph.ntotal == rebuilt.info.sentences == store.info.sentences
    assert Engine.open(index_copy, embedder).ask("who denied the Wagner claims?").answered
