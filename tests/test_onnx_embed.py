"""The ONNX query path embeds like sentence-transformers, and builds share one export (that asking never
imports torch is in test_cli)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bot.embed.encoder import SentenceTransformerEmbedder
from bot.embed.onnx import MODEL_FILE, OnnxEmbedder, export_onnx, query_embedder
from bot.engine import Engine
from bot.errors import ModelError
from bot.ingest.chunk import split_sentences
from bot.ingest.documents import read_article, scan_documents
from bot.pipeline import build_index
from bot.settings import DEFAULT_MODEL, Settings
from bot.store.layout import query_model_folder

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "documents"


def eval_questions() -> list[str]:
    questions = []
    for name in ("dev.jsonl", "test.jsonl"):
        path = ROOT / "eval" / name
        if path.is_file():
            questions += [json.loads(line)["question"] for line in path.read_text().splitlines() if line.strip()]
    return questions


@pytest.fixture(scope="module")
def onnx(shipped_settings: Settings) -> OnnxEmbedder:
    """The query model exported with the shared real-model index."""
    embedder = Engine.open(shipped_settings).embedder
    assert isinstance(embedder, OnnxEmbedder)
    return embedder


@pytest.mark.slow
def test_embeddings_match_sentence_transformers(onnx: OnnxEmbedder, embedder: SentenceTransformerEmbedder) -> None:
    articles = [read_article(found) for found in scan_documents(SHIPPED)]
    sentences = [s.text for article in articles for s in split_sentences(article.text)]
    texts = [*eval_questions(), *sentences, "x", "word " * 400, "Ünïcödé — “quotes” & 2024"]
    assert len(texts) > 50
    ours, theirs = onnx.embed(texts), embedder.embed(texts)
    assert ours.dtype == np.float32 and ours.shape == (len(texts), onnx.dimension) == theirs.shape
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosine = np.sum(ours * theirs, axis=1)
    assert cosine.min() >= 0.999, texts[int(cosine.argmin())]


@pytest.mark.slow
def test_single_and_empty_batches(onnx: OnnxEmbedder) -> None:
    assert onnx.embed([]).shape == (0, onnx.dimension)
    together = onnx.embed(["who is Haftar?", "a much longer question about the satellite pictures of Libya"])
    alone = onnx.embed(["who is Haftar?"])
    np.testing.assert_allclose(together[0], alone[0], atol=1e-5)


@pytest.mark.slow
def test_a_new_build_hard_links_the_exported_model_of_the_last(
    shipped_settings: Settings, embedder: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    shutil.copytree(shipped_settings.documents, tmp_path / "documents")
    shutil.copytree(shipped_settings.index, tmp_path / "index")
    settings = shipped_settings.model_copy(update={"documents": tmp_path / "documents", "index": tmp_path / "index"})
    first = Engine.open(settings).embedder
    (tmp_path / "documents" / "note.txt").write_text("The ministers met again in Geneva on Monday.\n")
    build_index(settings, embedder=embedder)
    second = Engine.open(settings).embedder
    assert isinstance(first, OnnxEmbedder) and isinstance(second, OnnxEmbedder)
    assert second.folder != first.folder
    assert (second.folder / MODEL_FILE).stat().st_ino == (first.folder / MODEL_FILE).stat().st_ino


def test_a_build_without_query_model_falls_back(tmp_path: Path) -> None:
    assert isinstance(query_embedder(tmp_path, DEFAULT_MODEL), SentenceTransformerEmbedder)
    query_model_folder(tmp_path).mkdir()
    assert isinstance(query_embedder(tmp_path, DEFAULT_MODEL), SentenceTransformerEmbedder)


@pytest.mark.slow
def test_unsupported_pooling_is_refused(tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Pooling

    model = embedder.model
    max_pooled = SentenceTransformer(modules=[model[0], Pooling(embedder.dimension, pooling_mode="max")])
    with pytest.raises(ModelError, match="mean or cls"):
        export_onnx(max_pooled, tmp_path, name="max-pooled")
    dense_only = SentenceTransformer(modules=[model[0]])
    with pytest.raises(ModelError, match="Transformer → Pooling"):
        export_onnx(dense_only, tmp_path, name="no-pooling")
