"""The whole flow in a few readable lines: ``build_index`` and ``Engine.ask``."""

from __future__ import annotations

import logging
import threading
import time
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from tqdm import tqdm

from bot.answer import answer
from bot.chunk import ChunkingSettings, chunk
from bot.clean import clean
from bot.documents import Skipped, load_documents
from bot.embed import Embedder, SentenceTransformerEmbedder
from bot.errors import REBUILD_HINT, DocumentsError, IndexMismatchError, QuestionError
from bot.models import Answer, IndexedArticle, IndexInfo, Passage, RetrievalMode
from bot.retrieve import Retriever
from bot.settings import Settings
from bot.store import BuildWriter, Store, cached_embeddings, current_build

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 2000
EMBED_BATCH = 256
CITATION_CANDIDATES = 12
# Chosen on eval/dev.jsonl by `citebot eval --calibrate` (see eval/README.md); CITEBOT_MIN_SCORE overrides.
CALIBRATED_MIN_SCORE = 0.45


@dataclass(frozen=True)
class BuildReport:
    articles: int
    passages: int
    sentences: int
    embedded: int
    skipped: tuple[Skipped, ...]
    seconds: float

    def summary(self) -> str:
        line = (
            f"Indexed {self.articles} articles, {self.passages} passages in {self.seconds:.1f} s "
            f"({self.embedded} sentences embedded)"
        )
        if self.skipped:
            line += f"; skipped {len(self.skipped)}: " + ", ".join(s.document for s in self.skipped)
        return line + "."


def build_index(settings: Settings, progress: bool = False, embedder: Embedder | None = None) -> BuildReport:
    """Clean, chunk and embed every article into a new build, then publish it in one atomic step."""
    started = time.perf_counter()
    articles, skipped = load_documents(settings.documents)
    chunking = ChunkingSettings()
    prepared = []
    for loaded in articles:
        article = clean(loaded)
        chunks = chunk(article.text, chunking)
        if chunks:
            prepared.append((article, chunks))
        else:
            log.warning("Skipped %s: no text left after cleaning", article.document)
            skipped.append(Skipped(article.document, "no text left after cleaning"))
    if not prepared:
        raise DocumentsError(
            f"No readable articles in {settings.documents}. Add .txt, .md, .html or .pdf files"
            + (f" (skipped: {', '.join(s.document for s in skipped)})." if skipped else ".")
        )
    embedder = embedder or SentenceTransformerEmbedder(settings.model)
    writer = BuildWriter(settings.index, settings.model, embedder.dimension)
    try:
        pending = [item for article, chunks in prepared for item in writer.add_article(article, chunks)]
        vectors, embedded = _embed_with_cache(writer, embedder, settings, pending, progress)
        writer.add_vectors([sentence_id for sentence_id, _, _ in pending], vectors)
        info = IndexInfo(
            model=settings.model,
            dimension=embedder.dimension,
            chunking=chunking.describe(),
            min_score=settings.min_score if settings.min_score is not None else CALIBRATED_MIN_SCORE,
            built_at=datetime.now(UTC).isoformat(timespec="seconds"),
            articles=len(prepared),
            passages=sum(len(chunks) for _, chunks in prepared),
            sentences=len(pending),
        )
        writer.finish(info)
        writer.publish()
    except BaseException:
        writer.discard()
        raise
    return BuildReport(
        articles=info.articles,
        passages=info.passages,
        sentences=info.sentences,
        embedded=embedded,
        skipped=tuple(skipped),
        seconds=time.perf_counter() - started,
    )


def _embed_with_cache(
    writer: BuildWriter,
    embedder: Embedder,
    settings: Settings,
    pending: list[tuple[int, str, str]],
    progress: bool,
) -> tuple[np.ndarray, int]:
    """Vectors for every pending sentence, embedding only texts the previous build did not hold."""
    known = cached_embeddings(settings.index, settings.model, (d for _, d, _ in pending))
    missing = list({d: text for _, d, text in pending if d not in known}.items())
    with tqdm(total=len(missing), unit="sentence", desc="Embedding", disable=not progress or None) as bar:
        for start in range(0, len(missing), EMBED_BATCH):
            batch = missing[start : start + EMBED_BATCH]
            vectors = embedder.embed([text for _, text in batch])
            known.update(zip((d for d, _ in batch), vectors, strict=True))
            bar.update(len(batch))
    digests = [d for _, d, _ in pending]
    matrix = np.vstack([known[d] for d in digests]).astype(np.float32)
    writer.cache_embeddings(list(dict.fromkeys(digests)), np.vstack([known[d] for d in dict.fromkeys(digests)]))
    return matrix, len(missing)


def check_question(question: str) -> str:
    """The question with control characters turned to spaces; empty or huge ones are refused."""
    cleaned = "".join(
        " " if unicodedata.category(character) in ("Cc", "Cf", "Zl", "Zp") else character
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
    """A loaded index and model, answering questions; ``refresh`` swaps in a newer index."""

    def __init__(self, settings: Settings, store: Store, embedder: Embedder) -> None:
        self.settings = settings
        self.embedder = embedder
        self._retriever = Retriever(self._checked(store), embedder)
        self._swap = threading.Lock()

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder | None = None) -> Engine:
        return cls(settings, Store.open(settings.index), embedder or SentenceTransformerEmbedder(settings.model))

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
        if self.settings.min_score is not None:
            return self.settings.min_score
        return self.info.min_score

    def articles(self) -> tuple[IndexedArticle, ...]:
        return self._retriever.store.articles()

    def search(
        self, question: str, mode: RetrievalMode = RetrievalMode.HYBRID, limit: int = 5, context: str | None = None
    ) -> tuple[Passage, ...]:
        retriever = self._retriever
        return retriever.search(retriever.query(check_question(question), context), mode, limit)

    def ask(self, question: str, context: str | None = None, mode: RetrievalMode = RetrievalMode.HYBRID) -> Answer:
        question = check_question(question)
        passages = self.search(question, mode, CITATION_CANDIDATES, context)
        return answer(question, passages, self.min_score)

    def top_score(self, question: str, mode: RetrievalMode = RetrievalMode.HYBRID) -> float:
        """The score abstention compares with ``min_score``: the best passage's."""
        passages = self.search(question, mode, 1)
        return passages[0].score if passages else 0.0

    def refresh(self) -> bool:
        """Swap in the published index if it is newer than the one in use; questions in flight
        finish on the old one."""
        with self._swap:
            build = current_build(self.settings.index)
            if build is None or build == self._retriever.store.build:
                return False
            store = self._checked(Store(build))
            self._retriever = Retriever(store, self.embedder)
            log.info("Swapped in the index %s", build.name)
            return True
