"""The read stage: which sentence of each retrieved passage answers, how surely, and with which words.

The linear first cut scores every sentence; the reader reads the first cut's best few with their
neighbouring sentences and decides. Without a reader (the fast test tier) the first cut decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from bot.models import Passage, Sentence, Span
from bot.read.blend import Blend
from bot.read.encoding import ReaderCandidate
from bot.read.features import Candidate, candidates
from bot.read.linear import LinearScorer
from bot.read.reader import Reading
from bot.retrieve.search import Query, RetrievedPassage

READ_CANDIDATES = 6
"""The reader reads the first cut's best this many, and the sentences either side of the best one
(a reader that sees the answer in a sentence's context may otherwise mark the neighbour)."""


class SentenceReader(Protocol):
    def read(self, question: str, candidates: list[ReaderCandidate]) -> list[Reading]: ...

    @property
    def blend(self) -> Blend | None: ...


@dataclass(frozen=True)
class JudgedSentence:
    """One candidate sentence as the stage judged it: what ``--explain`` shows."""

    chunk_id: int
    sentence: Sentence
    first_cut: float
    probability: float | None
    """The score that ranks and gates, where the reader read this sentence: its verdict weighed against
    the first cut's by its blend (``bot/read/blend.py``), or alone; None where only the first cut scored it."""
    answer: Span | None = None
    answer_confidence: float = 0.0
    reader: float | None = None
    """The reader's own probability, before the blend."""

    @property
    def score(self) -> float:
        """What decides: the blended or reader's probability where read, else the first cut's."""
        return self.first_cut if self.probability is None else self.probability


@dataclass(frozen=True)
class ReadResult:
    """Each passage with its best sentence, best first, and every sentence judged, best first."""

    passages: tuple[Passage, ...]
    judged: tuple[JudgedSentence, ...]


def read_passages(
    query: Query,
    passages: tuple[RetrievedPassage, ...],
    scorer: LinearScorer,
    reader: SentenceReader | None,
    relevance: float = 0.0,
) -> ReadResult:
    """Each passage with a judged sentence, best first: the reader's probability where it read one,
    else the first cut's. Passages of which the reader read nothing are left out when it read.

    When the first cut's best sentence is below ``relevance`` the question is off-topic: the reader
    reads nothing and no passage is kept (a reader can find an answer's shape in any sentence)."""
    if not query.terms:
        return ReadResult((), ())  # no word that carries meaning ("why?" outside a thread): nothing to look for
    found = candidates(query, passages)
    if not found:
        return ReadResult((), ())
    first_cut = scorer.score(np.array([candidate.features for candidate in found]))
    judged = [
        JudgedSentence(candidate.passage.chunk_id, candidate.sentence, float(score), None)
        for candidate, score in zip(found, first_cut, strict=True)
    ]
    if reader is not None and float(first_cut.max()) < relevance:
        return ReadResult((), tuple(sorted(judged, key=lambda j: -j.first_cut)))
    if reader is not None:
        chosen = _to_read(found, first_cut)
        readings = reader.read(query.text, [_with_context(found[i]) for i in chosen])  # with its thread
        blend = reader.blend
        for i, reading in zip(chosen, readings, strict=True):
            words = _answer_words(found[i], reading)
            first = judged[i].first_cut
            judged[i] = JudgedSentence(
                judged[i].chunk_id,
                judged[i].sentence,
                first,
                reading.probability if blend is None else blend.probability(reading.probability, first),
                words,
                reading.answer.confidence if words and reading.answer else 0.0,
                reading.probability,
            )
    ranked = sorted(
        (j for j in judged if reader is None or j.probability is not None), key=lambda j: -j.score
    )  # stable: ties keep the first cut's order
    best: dict[int, tuple[Candidate, JudgedSentence]] = {}
    by_sentence = {(c.passage.chunk_id, c.sentence.start): c for c in found}
    for sentence in ranked:
        best.setdefault(sentence.chunk_id, (by_sentence[(sentence.chunk_id, sentence.sentence.start)], sentence))
    read = [
        Passage(
            chunk_id=chunk_id,
            article=candidate.passage.article,
            start=candidate.passage.start,
            end=candidate.passage.end,
            text=candidate.passage.text,
            score=sentence.score,
            sentence=sentence.sentence,
            answer=sentence.answer,
            answer_confidence=sentence.answer_confidence,
        )
        for chunk_id, (candidate, sentence) in best.items()
    ]
    read.sort(key=lambda passage: (-passage.score, passage.chunk_id))
    unread = sorted((j for j in judged if reader is not None and j.probability is None), key=lambda j: -j.first_cut)
    return ReadResult(tuple(read), (*ranked, *unread))


def _to_read(found: list[Candidate], first_cut: np.ndarray) -> list[int]:
    """Indices of the candidates the reader reads, in first-cut order, plus the sentences next to its best one."""
    order = [int(i) for i in np.argsort(-first_cut, kind="stable")]
    chosen = order[:READ_CANDIDATES]
    top = found[order[0]]
    for i, candidate in enumerate(found):
        beside = candidate.passage.chunk_id == top.passage.chunk_id and abs(candidate.position - top.position) == 1
        if beside and i not in chosen:
            chosen.append(i)
    return chosen


def _with_context(candidate: Candidate) -> ReaderCandidate:
    sentences = candidate.passage.sentences
    position = candidate.position
    return ReaderCandidate(
        previous=sentences[position - 1].text if position > 0 else "",
        sentence=sentences[position].text,
        next=sentences[position + 1].text if position + 1 < len(sentences) else "",
        title=candidate.passage.article.title,
    )


def _answer_words(candidate: Candidate, reading: Reading) -> Span | None:
    """The reader's answer words as article offsets; none when they are the whole sentence."""
    sentence = candidate.sentence
    if reading.answer is None:
        return None
    words = sentence.text[reading.answer.start : reading.answer.end]
    if not words.strip() or len(words) >= 0.9 * len(sentence.text.strip()):
        return None
    start = sentence.start + reading.answer.start
    return Span(start=start, end=start + len(words), text=words)
