"""``Engine.ask``: a question through retrieve, read and answer, over the published index.

Before each question the engine looks (one ``stat``) whether a newer index was published, by
``citebot index`` in another shell or by ``/reindex``, and swaps it in; a question in flight
finishes on the index it started with.
"""

from __future__ import annotations

import logging
import threading
import unicodedata
from dataclasses import dataclass

from bot.answer import answer
from bot.embed.encoder import Embedder
from bot.embed.onnx import query_embedder
from bot.errors import REBUILD_HINT, CitebotError, IndexMismatchError, QuestionError
from bot.ingest.chunk import ChunkingSettings
from bot.models import Answer, IndexedArticle, IndexInfo, Passage, RetrievalMode
from bot.read.linear import LinearScorer
from bot.read.reader import Reader
from bot.read.stage import JudgedSentence, SentenceReader, read_passages
from bot.read.thresholds import Thresholds, load_thresholds
from bot.retrieve.search import RetrievedPassage, Retriever
from bot.settings import Settings
from bot.store.reading import Store
from bot.store.schema import CURRENT, current_build

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 2000
SHIPPED_READER = Reader()  # loads on the first question it reads


def judging_reader(settings: Settings, reader: SentenceReader | None = SHIPPED_READER) -> SentenceReader | None:
    """The reader that judges under these settings: none when CITEBOT_READER=0."""
    return reader if settings.reader else None


@dataclass(frozen=True)
class Trace:
    """Everything one question went through, for evaluation and ``--explain``: what retrieval ranked,
    every sentence reading judged, the passages it kept, the thresholds in force and the answer."""

    retrieved: tuple[RetrievedPassage, ...]
    read: tuple[Passage, ...]
    answer: Answer
    judged: tuple[JudgedSentence, ...] = ()
    thresholds: Thresholds | None = None


def check_question(question: str) -> str:
    """The question with control characters turned to spaces; empty or huge ones are refused."""
    cleaned = "".join(
        " " if unicodedata.category(character) in ("Cc", "Cf", "Zl", "Zp", "Cs") else character
        for character in question
    )
    cleaned = " ".join(cleaned.split())
    if not cleaned:
        raise QuestionError('The question is empty. Ask something, e.g. citebot ask "who denied the Wagner claims?"')
    if len(cleaned) > MAX_QUESTION_CHARS:
        raise QuestionError(
            f"The question is {len(cleaned):,} characters long; the limit is {MAX_QUESTION_CHARS:,}. Ask it shorter."
        )
    return cleaned


class Engine:
    """A loaded index, embedder and reader, answering questions; safe to call from several threads."""

    def __init__(
        self, settings: Settings, store: Store, embedder: Embedder, reader: SentenceReader | None = SHIPPED_READER
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.reader = judging_reader(settings, reader)
        self.scorer = LinearScorer.load()
        self.thresholds = load_thresholds(self.judge, settings.min_score)
        self._retriever = Retriever(self._checked(store), embedder)
        self._swap = threading.Lock()
        self._published = self._pointer_stamp()

    @classmethod
    def open(
        cls, settings: Settings, embedder: Embedder | None = None, reader: SentenceReader | None = SHIPPED_READER
    ) -> Engine:
        """The engine over the published index. ``reader=None`` lets the linear first cut decide alone."""
        store = Store.open(settings.index)
        return cls(settings, store, embedder or query_embedder(store.build, settings.model), reader)

    def _checked(self, store: Store) -> Store:
        if store.info.model != self.settings.model:
            raise IndexMismatchError(
                f"The index was built with the model {store.info.model!r}, but the settings ask for "
                f"{self.settings.model!r}. {REBUILD_HINT}"
            )
        if store.info.chunking != ChunkingSettings().describe():
            raise IndexMismatchError(f"The index was built with other chunking settings. {REBUILD_HINT}")
        return store

    @property
    def info(self) -> IndexInfo:
        return self._retriever.store.info

    @property
    def min_score(self) -> float:
        """The answer threshold in use: CITEBOT_MIN_SCORE, else the calibrated one (``bot/read/thresholds.py``)."""
        return self.thresholds.answer

    @property
    def judge(self) -> str:
        """Who decides which sentence answers: "reader" (the trained model) or "first_cut" (linear)."""
        return "first_cut" if self.reader is None else "reader"

    def articles(self) -> tuple[IndexedArticle, ...]:
        return self._retriever.store.articles()

    def search(
        self, question: str, mode: RetrievalMode = RetrievalMode.HYBRID, limit: int = 5, context: str | None = None
    ) -> tuple[Passage, ...]:
        """The best read passages, best first, whether or not they clear the threshold."""
        return self.trace(question, context, mode).read[:limit]

    def ask(self, question: str, context: str | None = None, mode: RetrievalMode = RetrievalMode.HYBRID) -> Answer:
        return self.trace(question, context, mode).answer

    def trace(self, question: str, context: str | None = None, mode: RetrievalMode = RetrievalMode.HYBRID) -> Trace:
        question = check_question(question)
        self.refresh()
        retriever = self._retriever
        query = retriever.query(question, context)
        retrieved = retriever.retrieve(query, mode)
        read = read_passages(query, retrieved, self.scorer, self.reader, self.thresholds.relevance)
        replied = answer(question, read.passages, self.thresholds)
        return Trace(retrieved, read.passages, replied, read.judged, self.thresholds)

    def refresh(self) -> bool:
        """Swap in the published index if it changed since the one in use. A new build that cannot
        be opened is logged and the current one keeps serving."""
        if self._pointer_stamp() == self._published:
            return False
        with self._swap:
            stamp = self._pointer_stamp()
            if stamp == self._published:
                return False
            self._published = stamp
            try:
                build = current_build(self.settings.index)
                if build is None or build == self._retriever.store.build:
                    return False
                self._retriever = Retriever(self._checked(Store(build)), self.embedder)
            except CitebotError as error:
                log.error("Kept the index in use; the new one could not be opened: %s", error)
                return False
            log.info("Swapped in the index %s", build.name)
            return True

    def _pointer_stamp(self) -> int | None:
        try:
            return (self.settings.index / CURRENT).stat().st_mtime_ns
        except OSError:
            return None
