"""A question into ranked passages.

Two retrievers rank passages, fused by reciprocal rank: dense (FAISS over sentence vectors, a passage
scoring as its best sentence) and lexical (SQLite FTS5 bm25 over passages). The best passages go to
the read stage with their sentences and sentence vectors, so it can judge every sentence.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from bot.embed.encoder import Embedder
from bot.models import IndexedArticle, RetrievalMode, Sentence
from bot.retrieve.terms import content_terms, stems, word_pairs
from bot.store.reading import Store

DENSE_CANDIDATES = 100
LEXICAL_CANDIDATES = 50
RETRIEVED_PASSAGES = 12
FUSION_K = 60


@dataclass(frozen=True)
class Query:
    """A question as the retrievers and the first cut see it."""

    question: str
    text: str  # the question, after the conversation it follows when there is one
    vector: np.ndarray
    terms: tuple[str, ...]
    pairs: frozenset[tuple[str, str]]
    weights: dict[str, float]  # inverse passage frequency of each question stem

    @property
    def match(self) -> str:
        """An FTS5 expression matching any term: each is quoted, so no user text is FTS syntax."""
        return " OR ".join(f'"{term}"' for term in self.terms)


@dataclass(frozen=True)
class RetrievedPassage:
    """A passage among the best for a question, with its sentences and their vectors (same order)."""

    chunk_id: int
    article: IndexedArticle
    start: int
    end: int
    text: str
    rank: int
    sentences: tuple[Sentence, ...]
    vectors: np.ndarray
    dense_rank: int | None = None
    """1-based rank among the dense retriever's passages; None where it did not rank this one."""
    lexical_rank: int | None = None
    """1-based rank among the lexical (bm25) retriever's passages; None where it did not rank this one."""


class Retriever:
    def __init__(self, store: Store, embedder: Embedder) -> None:
        self.store = store
        self.embedder = embedder

    def query(self, question: str, context: str | None = None) -> Query:
        text = f"{context}\n{question}" if context else question
        terms = content_terms(text)
        return Query(
            question=question,
            text=text,
            vector=self.embedder.embed([text])[0],
            terms=terms,
            pairs=word_pairs(question),
            weights=self._term_weights(terms),
        )

    def retrieve(
        self, query: Query, mode: RetrievalMode, limit: int = RETRIEVED_PASSAGES
    ) -> tuple[RetrievedPassage, ...]:
        """The ``limit`` best passages, best first."""
        rankings = self._rankings(query, mode)
        ranked = reciprocal_rank_fusion(list(rankings.values()))[:limit]
        positions = {name: {chunk: rank for rank, chunk in enumerate(ranking, 1)} for name, ranking in rankings.items()}
        if not ranked:
            return ()
        chunks = self.store.chunks(ranked)
        stored = self.store.sentences_of_chunks(ranked)
        vectors = self.store.sentence_vectors([sentence.id for sentence in stored])
        rows: dict[int, list[int]] = defaultdict(list)
        for row, sentence in enumerate(stored):
            rows[sentence.chunk_id].append(row)
        return tuple(
            RetrievedPassage(
                chunk_id=chunk_id,
                article=self.store.article(chunks[chunk_id].article_id),
                start=chunks[chunk_id].start,
                end=chunks[chunk_id].end,
                text=chunks[chunk_id].text,
                rank=rank,
                sentences=tuple(Sentence(stored[r].start, stored[r].end, stored[r].text) for r in rows[chunk_id]),
                vectors=vectors[rows[chunk_id]],
                dense_rank=positions.get(RetrievalMode.DENSE, {}).get(chunk_id),
                lexical_rank=positions.get(RetrievalMode.LEXICAL, {}).get(chunk_id),
            )
            for rank, chunk_id in enumerate(ranked)
            if chunk_id in chunks and rows[chunk_id]
        )

    def _rankings(self, query: Query, mode: RetrievalMode) -> dict[RetrievalMode, list[int]]:
        """Each retriever's passages, best first: dense, lexical, or both (``--explain`` shows both ranks)."""
        rankings: dict[RetrievalMode, list[int]] = {}
        if mode in (RetrievalMode.HYBRID, RetrievalMode.DENSE):
            rankings[RetrievalMode.DENSE] = self._dense_chunks(query)
        if mode in (RetrievalMode.HYBRID, RetrievalMode.LEXICAL) and query.terms:
            rankings[RetrievalMode.LEXICAL] = [
                hit.id for hit in self.store.lexical_chunks(query.match, LEXICAL_CANDIDATES)
            ]
        return rankings

    def _dense_chunks(self, query: Query) -> list[int]:
        hits = self.store.dense_sentences(query.vector, DENSE_CANDIDATES)
        chunk_of = self.store.chunk_of_sentences(hit.id for hit in hits)
        ranked: dict[int, None] = {}
        for hit in hits:
            chunk_id = chunk_of.get(hit.id)
            if chunk_id is not None:
                ranked.setdefault(chunk_id)
        return list(ranked)

    def _term_weights(self, terms: tuple[str, ...]) -> dict[str, float]:
        """Inverse document frequency of each question stem over the passages."""
        total = max(self.store.info.passages, 1)
        weights: dict[str, float] = {}
        for term, stem in zip(terms, stems(terms), strict=True):
            frequency = self.store.passage_frequency(term)
            weights[stem] = max(weights.get(stem, 0.0), math.log(1 + (total - frequency + 0.5) / (frequency + 0.5)))
        return weights


def reciprocal_rank_fusion(rankings: list[list[int]], k: int = FUSION_K) -> list[int]:
    """One ranking from several: an item scores 1/(k + rank) in each list it appears in."""
    scores: dict[int, float] = defaultdict(float)
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] += 1.0 / (k + rank)
    return sorted(scores, key=lambda item: (-scores[item], item))
