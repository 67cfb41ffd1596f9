"""Shared fixtures: the real model, loaded once, and one index over the shipped articles.

Every answer any test gets from ``Engine.ask`` is checked to quote its sources verbatim.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bot.embed.encoder import SentenceTransformerEmbedder
from bot.models import Answer
from bot.pipeline import Engine, build_index
from bot.settings import DEFAULT_MODEL, Settings
from tests.fakes import FAKE_MODEL, HashingEmbedder

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_DOCUMENTS = ROOT / "documents"
DENIALS = (
    "Russia has denied the allegations",
    "Kremlin dismissed US claims",
    "Lavrov also rejected claims",
    "Russia has repeatedly rejected those claims",
)


def make_settings(documents: Path, index: Path, **overrides: object) -> Settings:
    return Settings(documents=documents, index=index, _env_file=None, **overrides)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def fake_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The shipped articles indexed with the hashing embedder: the fast tier's index, built once."""
    documents = tmp_path_factory.mktemp("fake") / "documents"
    shutil.copytree(SHIPPED_DOCUMENTS, documents)
    settings = make_settings(documents, documents.parent / "index", model=FAKE_MODEL)
    build_index(settings, embedder=HashingEmbedder())
    return settings


@pytest.fixture(scope="session")
def fake_engine(fake_settings: Settings) -> Engine:
    return Engine.open(fake_settings, HashingEmbedder())


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(DEFAULT_MODEL)


@pytest.fixture(scope="session")
def shipped_settings(tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbedder) -> Settings:
    """An index of the shipped articles, built once for the whole run."""
    documents = tmp_path_factory.mktemp("shipped") / "documents"
    shutil.copytree(SHIPPED_DOCUMENTS, documents)
    settings = make_settings(documents, documents.parent / "index")
    build_index(settings, embedder=embedder)
    return settings


@pytest.fixture(scope="session")
def engine(shipped_settings: Settings, embedder: SentenceTransformerEmbedder) -> Engine:
    return Engine.open(shipped_settings, embedder)


def assert_verbatim(answer: Answer, engine: Engine) -> None:
    """Every citation's sentence lies in its passage, and both lie in the article at their offsets."""
    texts = {article.document: article.text for article in engine.articles()}
    for citation in (*answer.citations, *answer.more):
        article = texts[citation.document]
        start, end = citation.sentence_in_passage
        assert citation.passage[start:end] == citation.sentence
        assert article[citation.start : citation.end] == citation.sentence
        assert article[citation.passage_start : citation.passage_start + len(citation.passage)] == citation.passage


@pytest.fixture(autouse=True)
def every_citation_is_verbatim(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    original = Engine.ask

    def checked_ask(self: Engine, *args: object, **kwargs: object) -> Answer:
        answer = original(self, *args, **kwargs)  # type: ignore[arg-type]
        assert_verbatim(answer, self)
        return answer

    monkeypatch.setattr(Engine, "ask", checked_ask)
    yield
