"""Question to ranked passages, each with the sentence that best answers it.

Passages are found by two retrievers, ranked together by reciprocal rank fusion: dense (FAISS
over sentence vectors, a passage scoring as its best sentence) and lexical (SQLite FTS5 bm25 over
passages). Within the best passages every sentence is scored on its own, so the quoted sentence
may lie anywhere in its passage.
"""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

import numpy as np
import snowballstemmer

from bot.embed.encoder import Embedder
from bot.models import Passage, RetrievalMode, Sentence
from bot.store.reading import Store, StoredSentence

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


FEATURES = (
    "sentence",  # cosine of question and sentence
    "neighbours",  # best cosine of the sentences around it in its passage
    "passage",  # cosine of question and the passage (mean of its sentence vectors)
    "coverage",  # share of the question's IDF weight that the sentence holds
    "passage_coverage",  # the same over the whole passage
    "rank",  # 1 / (1 + the passage's rank after fusion)
    "short",  # 1 for a sentence under six words
    "answer_type",  # +1 when the sentence holds what the question asks for (number, time, name), -1 when not
    "bigrams",  # share of the question's word pairs found in the sentence
    "length",  # log(1 + words in the sentence)
)


@dataclass(frozen=True)
class Scorer:
    """A linear ranking of sentences, fitted per question (softmax over its candidates), and a
    logistic calibration of the best one's score. The score estimates the probability that the
    sentence answers the question, so one abstention threshold means the same on every question."""

    weights: tuple[float, ...]
    scale: float
    offset: float

    def score(self, features: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.scale * (features @ np.asarray(self.weights)) + self.offset)))


# Fitted by benchmarks/fit_scorer.py on eval/dev.jsonl and half of SQuAD v1.1 dev (its docstring
# has the command and the figures); never on eval/test.jsonl.
FITTED_SCORER = Scorer(
    weights=(6.1803, -1.4268, 9.7311, 2.5658, 7.1405, 0.0102, -2.9888, 0.8035, 3.7224, 0.3723),
    scale=0.2372,
    offset=-3.322,
)

NUMBER = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozens?|hundreds?|thousands?|"
    r"millions?|billions?)\b",
    re.IGNORECASE,
)
TIME = re.compile(
    r"\b(?:1\d{3}|20\d{2})\b|\b(?:January|February|March|April|May|June|July|August|September|October|November|"
    r"December|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|century|decade|ago|earlier|later)\b"
)
NAME = re.compile(r"(?<!^)(?<![.!?]\s)\b[A-Z][a-z]+")
QUESTION_TYPES = (
    (re.compile(r"\bhow (?:many|much|long|old|far|large|big)\b|\bwhat (?:percentage|number|amount)\b"), NUMBER),
    (re.compile(r"\bwhen\b|\bwhat (?:year|date|day|month|time|century)\b|\bwhich year\b"), TIME),
    (re.compile(r"\bwho\b|\bwhom\b|\bwhose\b"), NAME),
)


def answer_pattern(question: str) -> re.Pattern[str] | None:
    """What a sentence answering this question must hold, for how many / when / who questions."""
    lowered = question.casefold()
    return next((answer for asks, answer in QUESTION_TYPES if asks.search(lowered)), None)


@dataclass(frozen=True)
class Candidate:
    """A sentence of a well-ranked passage, with the features the scorer reads (see FEATURES)."""

    sentence: StoredSentence
    features: tuple[float, ...]


@dataclass(frozen=True)
class Query:
    text: str
    vector: np.ndarray
    terms: tuple[str, ...]
    pairs: frozenset[tuple[str, str]]
    answer: re.Pattern[str] | None

    @property
    def match(self) -> str:
        """An FTS5 expression matching any term: each is quoted, so no user text is FTS syntax."""
        return " OR ".join(f'"{term}"' for term in self.terms)


_local = threading.local()


def _stemmer() -> snowballstemmer.stemmer:
    """One stemmer per thread: a snowball stemmer keeps state while it works."""
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = snowballstemmer.stemmer("english")
    return stemmer


def words(text: str) -> list[str]:
    return re.findall(r"\w+", unicodedata.normalize("NFKC", text).casefold())


def content_terms(text: str) -> tuple[str, ...]:
    """The words of a question that carry meaning, in order, without repeats."""
    return tuple(dict.fromkeys(w for w in words(text) if w not in STOPWORDS))[:MAX_QUERY_TERMS]


def word_pairs(text: str) -> frozenset[tuple[str, str]]:
    return frozenset(pairwise(stems(words(text))))


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """Words repeat across candidates and questions, and stemming in pure Python is slow: cache it."""
    return _stemmer().stemWord(word)


def stems(terms: tuple[str, ...] | list[str]) -> list[str]:
    return [stem(term) for term in terms]


class Retriever:
    def __init__(self, store: Store, embedder: Embedder, scorer: Scorer = FITTED_SCORER) -> None:
        self.store = store
        self.embedder = embedder
        self.scorer = scorer

    def query(self, question: str, context: str | None = None) -> Query:
        text = f"{context}\n{question}" if context else question
        vector = self.embedder.embed([text])[0]
        return Query(
            text=text,
            vector=vector,
            terms=content_terms(text),
            pairs=word_pairs(question),
            answer=answer_pattern(question),
        )

    def search(self, query: Query, mode: RetrievalMode, limit: int) -> tuple[Passage, ...]:
        """The ``limit`` best passages, best first, each with its best sentence."""
        candidates = self.candidates(query, mode)
        if not candidates:
            return ()
        scores = self.scorer.score(np.array([candidate.features for candidate in candidates]))
        best: dict[int, tuple[StoredSentence, float]] = {}
        for candidate, score in zip(candidates, scores, strict=True):
            chunk_id = candidate.sentence.chunk_id
            if chunk_id not in best or score > best[chunk_id][1]:
                best[chunk_id] = (candidate.sentence, float(score))
        chunks = self.store.chunks(best)
        passages = [
            Passage(
                chunk_id=chunk_id,
                article=self.store.article(chunks[chunk_id].article_id),
                start=chunks[chunk_id].start,
                end=chunks[chunk_id].end,
                text=chunks[chunk_id].text,
                score=score,
                sentence=Sentence(sentence.start, sentence.end, sentence.text),
            )
            for chunk_id, (sentence, score) in best.items()
        ]
        passages.sort(key=lambda passage: (-passage.score, passage.chunk_id))
        return tuple(passages[:limit])

    def candidates(self, query: Query, mode: RetrievalMode) -> list[Candidate]:
        """Every sentence of the best fused passages, with its features."""
        ranked = self._fused_chunks(query, mode)[:RERANKED_PASSAGES]
        if not ranked:
            return []
        rank = {chunk_id: position for position, chunk_id in enumerate(ranked)}
        sentences = self.store.sentences_of_chunks(ranked)
        vectors = self.store.sentence_vectors([sentence.id for sentence in sentences])
        similarity = np.clip(vectors @ query.vector, 0.0, 1.0)
        weights = self._term_weights(query)
        by_chunk: dict[int, list[int]] = defaultdict(list)
        for position, sentence in enumerate(sentences):
            by_chunk[sentence.chunk_id].append(position)
        candidates = []
        for chunk_id, positions in by_chunk.items():
            mean = vectors[positions].mean(axis=0)
            passage_similarity = float(np.clip(mean @ query.vector / max(float(np.linalg.norm(mean)), 1e-9), 0, 1))
            passage_stems = set(stems(words(" ".join(sentences[p].text for p in positions))))
            passage_coverage = _coverage(weights, passage_stems)
            for index, position in enumerate(positions):
                neighbours = [p for p in positions[max(0, index - 1) : index + 2] if p != position]
                text = sentences[position].text
                sentence_stems = stems(words(text))
                features = (
                    float(similarity[position]),
                    float(max((similarity[p] for p in neighbours), default=0.0)),
                    passage_similarity,
                    _coverage(weights, set(sentence_stems)),
                    passage_coverage,
                    1.0 / (1.0 + rank[chunk_id]),
                    1.0 if len(text.split()) < 6 else 0.0,
                    0.0 if query.answer is None else 1.0 if query.answer.search(text) else -1.0,
                    len(query.pairs & set(pairwise(sentence_stems))) / len(query.pairs) if query.pairs else 0.0,
                    math.log1p(len(sentence_stems)),
                )
                candidates.append(Candidate(sentences[position], features))
        return candidates

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

    def _term_weights(self, query: Query) -> dict[str, float]:
        """Inverse document frequency of each question stem over the passages."""
        total = max(self.store.info.passages, 1)
        weights: dict[str, float] = {}
        for term, stem in zip(query.terms, stems(query.terms), strict=True):
            frequency = self.store.passage_frequency(term)
            weights[stem] = max(weights.get(stem, 0.0), math.log(1 + (total - frequency + 0.5) / (frequency + 0.5)))
        return weights


def _coverage(weights: dict[str, float], found: set[str]) -> float:
    """The share of the question's term weight that the text holds."""
    total = sum(weights.values())
    return sum(weight for stem, weight in weights.items() if stem in found) / total if total else 0.0


def reciprocal_rank_fusion(rankings: list[list[int]], k: int = FUSION_K) -> list[int]:
    """One ranking from several: an item scores 1/(k + rank) in each list it appears in."""
    scores: dict[int, float] = defaultdict(float)
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] += 1.0 / (k + rank)
    return sorted(scores, key=lambda item: (-scores[item], item))
