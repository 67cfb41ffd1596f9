"""Pure metrics of what citebot quotes: hits, ranks, rates, per retrieval mode.

They are functions of :class:`QuestionResult` values, so they are tested on hand-made results
without a model or an index.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from bot.answer import fold_case_and_space
from bot.evaluation.questions import EvalQuestion, Kind
from bot.models import RetrievalMode

PASSAGES = 5
"""Passage hit@k looks at this many retrieved passages."""


@dataclass(frozen=True)
class QuestionResult:
    """What one retrieval mode did with one question: the strings it put forward, in rank order."""

    question: EvalQuestion
    mode: RetrievalMode
    answered: bool
    quoted: tuple[str, ...]
    """The cited sentences (at most 3), then the further candidates the answer offers (``Answer.more``)."""
    cited: int
    """How many of ``quoted`` are citations proper."""
    passage_rank: int | None
    """1-based rank of the first of the top passages that contains an evidence string."""
    retrieved_sentence: str | None
    """The best sentence of the top retrieved passage, whether or not the engine answered."""
    top_score: float | None
    """The best sentence's score (the answer's confidence): what abstention compares with min_score."""
    seconds: float
    read_scores: tuple[float, ...] = ()
    """The score of each read passage's best sentence, best first, cited or not (for the support threshold)."""
    read_hits: tuple[bool, ...] = ()
    """Whether each of those sentences holds an evidence string."""
    first_cut_best: float | None = None
    """The first cut's best sentence score, read or not (for the relevance threshold)."""


@dataclass(frozen=True)
class ModeReport:
    """The figures of one retrieval mode. A rate is ``None`` when no question could count towards it."""

    mode: RetrievalMode
    answerable: int
    off_topic: int
    near_topic: int
    unanswerable: int
    hit_at_1: float | None
    hit_at_3: float | None
    passage_hit_at_5: float | None
    mrr: float | None
    retrieval_hit_at_1: float | None
    answered_rate: float | None
    abstention_rate: float | None
    abstention_off_topic: float | None
    abstention_near_topic: float | None
    latency_p50_ms: float
    latency_p95_ms: float


def is_hit(sentence: str, evidence: Iterable[str]) -> bool:
    """A quoted sentence hits when it contains an evidence string or is contained in one.

    The second way lets a long evidence span count a sentence splitter's shorter fragment of it; it
    must be a run of whole words there, or a quoted "a" would hit every evidence string holding an a.
    """
    quoted = fold_case_and_space(sentence)
    if not quoted:
        return False
    inside = re.compile(rf"(?<!\w){re.escape(quoted)}(?!\w)")
    return any(span in quoted or inside.search(span) for span in map(fold_case_and_space, evidence) if span)


def contains_evidence(passage: str, evidence: Iterable[str]) -> bool:
    """A passage hits only by containing an evidence string: passages are longer than the answer."""
    text = fold_case_and_space(passage)
    return any(span in text for span in map(fold_case_and_space, evidence) if span)


def first_hit_rank(sentences: Sequence[str], evidence: Sequence[str]) -> int | None:
    """1-based rank of the first sentence that hits, or ``None``."""
    return next((rank for rank, text in enumerate(sentences, start=1) if is_hit(text, evidence)), None)


def percentile(values: Sequence[float], q: float) -> float:
    """numpy's percentile (linear interpolation), NaN for no values rather than an error."""
    return float(np.percentile(values, q)) if len(values) else math.nan


def rate(flags: Iterable[bool]) -> float | None:
    """Share of true flags; ``None`` when there are none to count, so 0% never hides 'not measured'."""
    seen = list(flags)
    return sum(seen) / len(seen) if seen else None


def mean(values: Iterable[float]) -> float | None:
    seen = list(values)
    return sum(seen) / len(seen) if seen else None


def sentence_rank(result: QuestionResult) -> int | None:
    """Rank of the first quoted sentence that hits (an abstention quotes nothing, so it has none)."""
    return first_hit_rank(result.quoted, result.question.evidence)


def summarise(results: Sequence[QuestionResult], mode: RetrievalMode) -> ModeReport:
    """The figures of one mode. Hit and MRR count every answerable question: an abstention is a miss."""
    mine = [result for result in results if result.mode is mode]
    answerable = [result for result in mine if result.question.answerable]
    unanswerable = [result for result in mine if not result.question.answerable]
    ranks = [sentence_rank(result) for result in answerable]

    def abstained(kind: Kind) -> float | None:
        return rate(not result.answered for result in unanswerable if result.question.kind is kind)

    latencies = [result.seconds * 1000 for result in mine]
    return ModeReport(
        mode=mode,
        answerable=len(answerable),
        off_topic=sum(result.question.kind is Kind.OFF_TOPIC for result in unanswerable),
        near_topic=sum(result.question.kind is Kind.NEAR_TOPIC for result in unanswerable),
        unanswerable=len(unanswerable),
        hit_at_1=rate(rank == 1 for rank in ranks),
        hit_at_3=rate(
            rank is not None and rank <= min(3, result.cited) for rank, result in zip(ranks, answerable, strict=True)
        ),
        passage_hit_at_5=rate(result.passage_rank is not None for result in answerable),
        mrr=mean(1 / rank if rank is not None else 0.0 for rank in ranks),
        retrieval_hit_at_1=rate(
            result.retrieved_sentence is not None and is_hit(result.retrieved_sentence, result.question.evidence)
            for result in answerable
        ),
        answered_rate=rate(result.answered for result in answerable),
        abstention_rate=rate(not result.answered for result in unanswerable),
        abstention_off_topic=abstained(Kind.OFF_TOPIC),
        abstention_near_topic=abstained(Kind.NEAR_TOPIC),
        latency_p50_ms=percentile(latencies, 50),
        latency_p95_ms=percentile(latencies, 95),
    )
