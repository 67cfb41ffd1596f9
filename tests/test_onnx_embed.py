"""The ONNX query path embeds like sentence-transformers, and asking never imports torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.embed.encoder import SentenceTransformerEmbedder
from bot.embed.onnx import MODEL_FILE, QUERY_MODEL, OnnxEmbedder, export_onnx, query_embedder
from bot.errors import ModelError
from bot.ingest.chunk import split_sentences
from bot.ingest.documents import load_documents
from bot.pipeline import Engine, build_index
from bot.settings import DEFAULT_MODEL, Settings

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "documents"
HEAVY = ("torch", "sentence_transformers", "transformers")


def eval_questions() -> list[str]:
    questions = []
    for name in ("dev.jsonl", "test.jsonl"):
        path = ROOT / "eval" / name
        if path.is_file():
            questions += [json.loads(line)["question"] for line in path.read_text().splitlines() if line.strip()]
    return questions


@pytest.fixture(scope="module")
def reference(embedder: SentenceTransformerEmbedder) -> SentenceTransformerEmbedder:
    return embedder


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, reference: SentenceTransformerEmbedder) -> Settings:
    """The shipped articles indexed into an index of this module's own, as it rebuilds it."""
    settings = Settings(documents=SHIPPED, index=tmp_path_factory.mktemp("index"), _env_file=None)
    build_index(settings, embedder=reference)
    return settings


@pytest.fixture(scope="module")
def onnx(built: Settings) -> OnnxEmbedder:
    embedder = Engine.open(built).embedder
    assert isinstance(embedder, OnnxEmbedder)
    return embedder


def test_embeddings_match_sentence_transformers(onnx: OnnxEmbedder, reference: SentenceTransformerEmbedder) -> None:
    articles, _ = load_documents(SHIPPED)
    sentences = [s.text for article in articles for s in split_sentences(article.text)]
    texts = [*eval_questions(), *sentences, "x", "word " * 400, "Ünïcödé — “quotes” & 2024"]
    assert len(texts) > 50
    ours, theirs = onnx.embed(texts), reference.embed(texts)
    assert ours.dtype == np.float32 and ours.shape == (len(texts), onnx.dimension) == theirs.shape
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosine = np.sum(ours * theirs, axis=1)
    assert cosine.min() >= 0.999, texts[int(cosine.argmin())]


def test_single_and_empty_batches(onnx: OnnxEmbedder) -> None:
    assert onnx.embed([]).shape == (0, onnx.dimension)
    together = onnx.embed(["who is Haftar?", "a much longer question about the satellite pictures of Libya"])
    alone = onnx.embed(["who is Haftar?"])
    np.testing.assert_allclose(together[0], alone[0], atol=1e-5)


def test_rebuild_reuses_the_exported_model(built: Settings, reference: SentenceTransformerEmbedder) -> None:
    first = Engine.open(built).embedder
    assert isinstance(first, OnnxEmbedder)
    build_index(built, embedder=reference)
    second = Engine.open(built).embedder
    assert isinstance(second, OnnxEmbedder)
    assert second.folder != first.folder
    assert (second.folder / MODEL_FILE).stat().st_ino == (first.folder / MODEL_FILE).stat().st_ino


def test_a_build_without_query_model_falls_back(tmp_path: Path) -> None:
    assert isinstance(query_embedder(tmp_path, DEFAULT_MODEL), SentenceTransformerEmbedder)
    (tmp_path / QUERY_MODEL).mkdir()
    assert isinstance(query_embedder(tmp_path, DEFAULT_MODEL), SentenceTransformerEmbedder)


def test_unsupported_pooling_is_refused(tmp_path: Path, reference: SentenceTransformerEmbedder) -> None:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Pooling

    model = reference.model
    max_pooled = SentenceTransformer(modules=[model[0], Pooling(reference.dimension, pooling_mode="max")])
    with pytest.raises(ModelError, match="mean or cls"):
        export_onnx(max_pooled, tmp_path, name="max-pooled")
    dense_only = SentenceTransformer(modules=[model[0]])
    with pytest.raises(ModelError, match="Transformer → Pooling"):
        export_onnx(dense_only, tmp_path, name="no-pooling")


PROBE = """
import json, sys
from bot.cli import main
main(sys.argv[1:], standalone_mode=False)
heavy = sorted(name for name in sys.modules if name.split(".")[0] in {heavy!r})
print(json.dumps(heavy), file=sys.stderr)
"""


def run_cli(*arguments: str) -> tuple[str, list[str]]:
    """Run the CLI in a fresh process; its stdout and the heavy modules it imported."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=set(HEAVY)), *arguments],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "CITEBOT_DOCUMENTS": str(SHIPPED)},
        timeout=120,
        check=True,
    )
    return result.stdout, json.loads(result.stderr.strip().splitlines()[-1])


def test_help_does_not_import_torch() -> None:
    output, heavy = run_cli("--help")
    assert "ask" in output
    assert heavy == []


def test_cold_ask_does_not_import_torch(built: Settings) -> None:
    output, heavy = run_cli("ask", "--json", "--index", str(built.index), "who is Haftar?")
    assert json.loads(output)["answered"] is True
    assert heavy == []
