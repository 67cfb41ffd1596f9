"""Shared fixtures for the two tiers, and the checks that keep them honest.

The fast tier (``-m "not slow"``) runs every stage on the hashing embedder (``tests/fakes.py``) with no
reader: ``fake_settings`` / ``fake_engine``, and ``hashing_model`` for code that makes its own
embedder, such as the command line. The real-model tier (``-m slow``) has ``embedder``,
``shipped_settings`` and ``engine``. A test that is not marked slow and asks for a real-model fixture,
or loads a real model any other way, fails.

Every answer any test gets from ``Engine.ask`` is checked to quote its sources verbatim.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
from hypothesis import settings as hypothesis_settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bot.embed import onnx
from bot.embed.encoder import SentenceTransformerEmbedder
from bot.embed.onnx import OnnxEmbedder
from bot.engine import Engine
from bot.errors import ModelError
from bot.models import Answer
from bot.pipeline import build_index
from bot.read.reader import Reader
from bot.settings import DEFAULT_MODEL, Settings
from tests.fakes import FAKE_MODEL, HashingEmbedder

# Hypothesis fails an example that takes over 200 ms by default: a wall-clock assertion that a busy
# machine trips at random. Examples are judged on what they return only.
hypothesis_settings.register_profile("citebot", deadline=None)
hypothesis_settings.load_profile("citebot")

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_DOCUMENTS = ROOT / "documents"
SHIPPED_MANIFEST = Path(__file__).with_name("shipped_articles.sha256")
# The seed article's sentences that say who denied the claims about Wagner in Libya: Russia. Gen.
# Townsend's "Russia has denied the full extent of its involvement" follows his own words on Wagner and
# answers "who denied" as plainly as the rest (a helper who never saw this list asked it "What has Russia
# refused to admit, according to Townsend?" in eval/calibration.jsonl); session 11's reader quotes it first.
DENIALS = (
    "Russia has denied the allegations",
    "Kremlin dismissed US claims",
    "Lavrov also rejected claims",
    "Russia has repeatedly rejected those claims",
    "Russia has denied the full extent of its involvement",
)
# Words of one sentence of the shipped article: the hashing embedder and bm25 find it, so the fast
# tier's first cut answers with it, well above the calibrated threshold.
FAKE_ANSWERABLE = "Russia has denied the allegations"
REAL_MODEL_FIXTURES = frozenset({"embedder", "shipped_settings", "engine"})


def copy_shipped_articles(target: Path) -> Path:
    """The articles citebot ships, as pinned by ``shipped_articles.sha256``, copied to ``target``: what a
    user adds to documents/ (or changes there) never reaches a test."""
    target.mkdir(parents=True, exist_ok=True)
    for line in SHIPPED_MANIFEST.read_text(encoding="utf-8").splitlines():
        digest, name = line.split(maxsplit=1)
        data = (SHIPPED_DOCUMENTS / name).read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:
            pytest.fail(f"documents/{name} differs from the shipped article; restore it: git checkout -- documents/")
        (target / name).write_bytes(data)
    return target


def make_settings(documents: Path, index: Path, **overrides: object) -> Settings:
    return Settings(documents=documents, index=index, _env_file=None, **overrides)  # type: ignore[call-arg]


KEPT_BESIDE_AN_INDEX = shutil.ignore_patterns("feedback.*", "feeds.sqlite*", "question_history")


def copy_collection(settings: Settings, folder: Path, **overrides: object) -> Settings:
    """The articles and the index of ``settings``, copied into ``folder`` for one test (or module) to change.
    What is kept beside an index (votes, gaps, followed feeds, question history) is left behind: other
    tests wrote theirs into the shared index, and a copy starts with none."""
    shutil.copytree(settings.documents, folder / "documents")
    shutil.copytree(settings.index, folder / "index", symlinks=True, ignore=KEPT_BESIDE_AN_INDEX)
    return make_settings(folder / "documents", folder / "index", **({"model": settings.model} | overrides))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before any fixture is made: a fast-tier test may not ask for the real model."""
    if item.get_closest_marker("slow") is not None:
        return
    used = sorted(REAL_MODEL_FIXTURES.intersection(getattr(item, "fixturenames", ())))
    if used:
        pytest.fail(f"{item.nodeid} uses {', '.join(used)} (the real model), so it must be marked slow", pytrace=False)


@pytest.fixture(autouse=True)
def fast_tests_never_load_a_real_model(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Outside the slow tier, loading the sentence-transformers model, exporting to ONNX, or loading an
    ONNX query model or the reader fails the test, even where the code under test catches the error."""
    if request.node.get_closest_marker("slow") is not None:
        yield
        return
    loaded: list[str] = []

    def refuse(what: str) -> Callable[..., object]:
        def load(*args: object, **kwargs: object) -> object:
            loaded.append(what)
            pytest.fail(f"{request.node.nodeid} loads {what}, so it must be marked slow", pytrace=False)

        return load

    def refuse_once_loaded(kind: type, what: str) -> None:
        """An ONNX model that fails to load (missing, damaged) is a fast test of the error, and so is a
        scripted stand-in for the session; a real session that loads is not."""
        load = kind._load

        def checked_load(self: object) -> object:
            model = load(self)
            session = getattr(model, "session", None) or model[0]  # type: ignore[index]
            if isinstance(session, onnxruntime.InferenceSession):
                refuse(what)()
            return model

        monkeypatch.setattr(kind, "_load", checked_load)

    monkeypatch.setattr(SentenceTransformerEmbedder, "_load", refuse("the sentence-transformers model"))
    monkeypatch.setattr(onnx, "export_onnx", refuse("torch, to export the model to ONNX"))
    refuse_once_loaded(OnnxEmbedder, "the ONNX query model")
    refuse_once_loaded(Reader, "the reading model")
    yield
    if loaded:
        pytest.fail(f"{request.node.nodeid} loaded {', '.join(loaded)}, so it must be marked slow", pytrace=False)


class HashingSentenceModel:
    """What citebot uses of a SentenceTransformer, computed by the hashing embedder."""

    def __init__(self) -> None:
        self._embedder = HashingEmbedder()

    def get_embedding_dimension(self) -> int:
        return self._embedder.dimension

    def encode(self, texts: Sequence[str], **options: object) -> np.ndarray:
        return self._embedder.embed(texts)


def no_onnx_export(*args: object, **kwargs: object) -> None:
    raise ModelError("the hashing embedder has no ONNX form")


@pytest.fixture
def hashing_model(fast_tests_never_load_a_real_model: None, monkeypatch: pytest.MonkeyPatch) -> str:
    """For code that makes its own embedder and engine (the command line): every sentence-transformers
    model loads as the hashing embedder, cannot be exported to ONNX, and engines open without the
    reader. The model name to give CITEBOT_MODEL, as ``fake_settings`` records it."""
    open_engine = Engine.open.__func__  # type: ignore[attr-defined]

    def open_without_reader(
        cls: type[Engine], settings: Settings, embedder: object = None, reader: object = None
    ) -> Engine:
        return open_engine(cls, settings, embedder, reader)

    monkeypatch.setattr(SentenceTransformerEmbedder, "_load", lambda self: HashingSentenceModel())
    monkeypatch.setattr(onnx, "export_onnx", no_onnx_export)
    monkeypatch.setattr(Engine, "open", classmethod(open_without_reader))
    return FAKE_MODEL


@pytest.fixture(scope="session")
def fake_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The shipped articles indexed with the hashing embedder: the fast tier's index, built once.
    Tests that change an index copy this one."""
    documents = copy_shipped_articles(tmp_path_factory.mktemp("fake") / "documents")
    settings = make_settings(documents, documents.parent / "index", model=FAKE_MODEL)
    build_index(settings, embedder=HashingEmbedder())
    return settings


@pytest.fixture(scope="session")
def fake_engine(fake_settings: Settings) -> Engine:
    """The fast tier's engine: the hashing embedder, and the linear first cut deciding without the reader."""
    return Engine.open(fake_settings, HashingEmbedder(), reader=None)


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(DEFAULT_MODEL)


@pytest.fixture(scope="session")
def shipped_settings(tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbedder) -> Settings:
    """An index of the shipped articles with the real model, built once for the whole run. Tests that
    change an index copy this one."""
    documents = copy_shipped_articles(tmp_path_factory.mktemp("shipped") / "documents")
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
        start, end = citation.start - citation.passage_start, citation.end - citation.passage_start
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
