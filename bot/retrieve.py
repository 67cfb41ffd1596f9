"""Question to ranked passages, each with the sentence that best answers it.

Passages are found by two retrievers, ranked together by reciprocal rank fusion: dense (FAISS
over sentence vectors, a passage scoring as its best sentence) and lexical (SQLite FTS5 bm25 over
passages). Within the best passages every sentence is scored on its own, so the quoted sentence
may lie anywhere in its passage.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import snowballstemmer

from bot.embed import Embedder
from bot.models import Passage, RetrievalMode, Sentence
from bot.store import Store, StoredSentence

DENSE_CANDIDATES = 100
LEXICAL_CANDIDATES = 50
RERANKED_PASSAGES = 12
FUSION_K = 60
MAX_QUERY_TERMS = 32

STOPWORDS = frozenset(
    """
    a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just me more most
    my myself no nor not now of off on once only or other our ours ourselves out over own same she
    should so some such than that the their theirs them themselves then there these they this those
    through to too under until up very was we were what when where which while who whom why will with
    would you your yours yourself yourselves said say says tell told
    """.split()
)


@dataclass(frozen=True)
class Weights:
    """How a sentence's score is made: all parts lie in [0, 1], so the sum is comparable across
    questions and a single abstention threshold means the same thing everywhere."""

    sentence: float = 0.55
    context: float = 0.15
    coverage: float = 0.30


@dataclass(frozen=True)
class Query:
    text: str
    vector: np.ndarray
    terms: tuple[str, ...]

    @property
    def match(self) -> str:
        """An FTS5 expression matching any term: each is quoted, so no user text is FTS syntax."""
        return " OR ".join(f'"{term}"' for term in self.terms)


@lru_cache(maxsize=1)
def _stemmer() -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer("english")


def words(text: str) -> list[str]:
    return re.findall(r"\w+", unicodedata.normalize("NFKC", text).casefold())


def content_terms(text: str) -> tuple[str, ...]:
    """The words of a question that carry meaning, in order, without repeats."""
    return tuple(dict.fromkeys(w for w in words(text) if w not in STOPWORDS))[:MAX_QUERY_TERMS]


def stems(terms: tuple[str, ...] | list[str]) -> list[str]:
    return _stemmer().stemWords(list(terms))


class Retriever:
    def __init__(self, store: Store, embedder: Embedder, weights: Weights = Weights()) -> None:
        self.store = store
        self.embedder = embedder
        self.weights = weights

    def query(self, question: str, context: str | None = None) -> Query:
        text = f"{context}\n{question}" if context else question
        vector = self.embedder.embed([text])[0]
        return Query(text=text, vector=vector, terms=content_terms(text))

    def search(self, query: Query, mode: RetrievalMode, limit: int) -> tuple[Passage, ...]:
        """The ``limit`` best passages, best first, each with its best sentence."""
        ranked = self._fused_chunks(query, mode)[:RERANKED_PASSAGES]
        if not ranked:
            return ()
        chunks = self.store.chunks(ranked)
        sentences = self.store.sentences_of_chunks(ranked)
        scored = self._score_sentences(query, sentences)
        best: dict[int, tuple[StoredSentence, float]] = {}
        for sentence, score in scored:
            if sentence.chunk_id not in best or score > best[sentence.chunk_id][1]:
                best[sentence.chunk_id] = (sentence, score)
        passages = []
        for chunk_id in ranked:
            if chunk_id not in best:
                continue
            chunk = chunks[chunk_id]
            sentence, score = best[chunk_id]
            passages.append(
                Passage(
                    chunk_id=chunk_id,
                    article=self.store.article(chunk.article_id),
                    start=chunk.start,
                    end=chunk.end,
                    text=chunk.text,
                    score=score,
                    sentence=Sentence(sentence.start, sentence.end, sentence.text),
                    sentence_score=score,
                )
            )
        passages.sort(key=lambda passage: passage.score, reverse=True)
        return tuple(passages[:limit])

    def _fused_chunks(self, query: Query, mode: RetrievalMode) -> list[int]:
        rankings: list[list[int]] = []
        if mode in (RetrievalMode.HYBRID, RetrievalMode.DENSE):
            rankings.append(self._dense_chunks(query))
        if mode in (RetrievalMode.HYBRID, RetrievalMode.LEXICAL) and query.terms:
            rankings.append([chunk_id for chunk_id, _ in self.store.lexical_chunks(query.match, LEXICAL_CANDIDATES)])
        return reciprocal_rank_fusion(rankings)

    def _dense_chunks(self, query: Query) -> list[int]:
        hits = self.store.dense_sentences(query.vector, DENSE_CANDIDATES)
        chunk_of = self.store.chunk_of_sentences(sentence_id for sentence_id, _ in hits)
        ranked: list[int] = []
        for sentence_id, _ in hits:
            chunk_id = chunk_of.get(sentence_id)
            if chunk_id is not None and chunk_id not in ranked:
                ranked.append(chunk_id)
        return ranked

    def _score_sentences(self, query: Query, sentences: list[StoredSentence]) -> list[tuple[StoredSentence, float]]:
        """Each sentence scored by its own similarity, its neighbours' and the question words it covers."""
        vectors = self.store.sentence_vectors([sentence.id for sentence in sentences])
        similarity = np.clip(vectors @ query.vector, 0.0, 1.0)
        by_chunk: dict[int, list[int]] = defaultdict(list)
        for position, sentence in enumerate(sentences):
            by_chunk[sentence.chunk_id].append(position)
        weights = self._term_weights(query)
        scored = []
        for positions in by_chunk.values():
            for index, position in enumerate(positions):
                neighbours = positions[max(0, index - 1) : index + 2]
                context = float(np.max(similarity[neighbours]))
                window = " ".join(sentences[p].text for p in neighbours)
                coverage = _coverage(weights, sentences[position].text, window)
                score = (
                    self.weights.sentence * float(similarity[position])
                    + self.weights.context * context
                    + self.weights.coverage * coverage
                )
                scored.append((sentences[position], score))
        return scored

    def _term_weights(self, query: Query) -> dict[str, float]:
        """Inverse document frequency of each question stem over the passages."""
        total = max(self.store.info.passages, 1)
        weights: dict[str, float] = {}
        for term, stem in zip(query.terms, stems(query.terms), strict=True):
            frequency = self.store.passage_frequency(term)
            weights[stem] = max(weights.get(stem, 0.0), math.log(1 + (total - frequency + 0.5) / (frequency + 0.5)))
        return weights


def _coverage(weights: dict[str, float], sentence: str, window: str) -> float:
    """The share of the question's weight found in the sentence (fully) or its neighbours (half)."""
    total = sum(weights.values())
    if not total:
        return 0.0
    in_sentence = set(stems(words(sentence)))
    in_window = set(stems(words(window)))
    found = sum(w if stem in in_sentence else w / 2 if stem in in_window else 0.0 for stem, w in weights.items())
    return found / total


def reciprocal_rank_fusion(rankings: list[list[int]], k: int = FUSION_K) -> list[int]:
    """One ranking from several: an item scores 1/(k + rank) in each list it appears in."""
    scores: dict[int, float] = defaultdict(float)
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] += 1.0 / (k + rank)
    return sorted(scores, key=lambda item: (-scores[item], item))
