"""The thresholds to adopt, chosen on dev results: when to answer, and when a further citation answers too."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from bot.evaluation.metrics import QuestionResult
from bot.evaluation.questions import Kind

MOST_ABSTAINED_OF_ANSWERABLE = 0.05


@dataclass(frozen=True)
class Calibration:
    """The answer threshold, the objective it met, and the support threshold for further citations."""

    answer: float
    objective: str
    support: float | None
    relevance: float = 0.0


def calibrate_thresholds(
    results: Sequence[QuestionResult], answered_at_least: float = 1 - MOST_ABSTAINED_OF_ANSWERABLE
) -> Calibration:
    """Thresholds chosen on dev results by their top scores.

    Answer threshold, objective in order: at least ``answered_at_least`` of the answerable questions
    answered (a bot that withholds answers it has is the worse failure); then as many unanswerable
    questions abstained as possible; ties go to the widest margin to the nearest score, then to the
    lower threshold; ``objective`` says what it reached. A question is taken as answered when its top
    score reaches the threshold, as the engine decides. Use results of one mode, on questions the
    reader never learnt from.

    Support threshold: over the further sentences the answerable questions put forward (2nd and on),
    the threshold with the best F1 of "this sentence holds the evidence", and never below the answer
    threshold (a further citation must answer in its own right).

    Relevance threshold: on the first cut's best score, midway between the answerable questions' lowest
    and the highest off-topic question's below it: every answerable question is read, and every
    off-topic one the first cut can tell apart is not; 0 (every question read) where none can. One
    off-topic question that reads like the articles ("Who painted the Mona Lisa?" beside an art
    article) is read, not allowed to switch the floor off.
    """
    modes = {result.mode for result in results}
    if len(modes) != 1:
        raise ValueError(f"calibrate needs results of one retrieval mode, got {len(modes)}")
    if any(result.top_score is None for result in results):
        raise ValueError("calibrate needs the top score of every result")
    answerable = [_finite(result.top_score) for result in results if result.question.answerable]
    unanswerable = [_finite(result.top_score) for result in results if not result.question.answerable]
    if not answerable or not unanswerable:
        raise ValueError("calibrate needs both answerable and unanswerable questions")
    scores = sorted({score for score in answerable + unanswerable if math.isfinite(score)})
    if not scores:
        raise ValueError("calibrate needs at least one finite top score")

    def answered(threshold: float) -> float:
        return sum(score >= threshold for score in answerable) / len(answerable)

    def abstained(threshold: float) -> float:
        return sum(score < threshold for score in unanswerable) / len(unanswerable)

    candidates = _between(scores)
    enough = [(t, margin) for t, margin in candidates if answered(t) >= answered_at_least]  # the lowest always is
    best = max(enough, key=lambda candidate: (abstained(candidate[0]), candidate[1], -candidate[0]))
    objective = (
        f"≥ {answered_at_least:.0%} of answerable answered, then the most unanswerable abstained: "
        f"{answered(best[0]):.1%} answered, {abstained(best[0]):.1%} abstained"
    )
    support = _support(results)
    return Calibration(
        answer=best[0],
        objective=objective,
        support=None if support is None else max(support, best[0]),
        relevance=_relevance(results),
    )


def _relevance(results: Sequence[QuestionResult]) -> float:
    answerable = [r.first_cut_best for r in results if r.question.answerable and r.first_cut_best is not None]
    off_topic = [
        r.first_cut_best for r in results if r.question.kind is Kind.OFF_TOPIC and r.first_cut_best is not None
    ]
    if not answerable:
        return 0.0
    lowest = min(answerable)
    below = [score for score in off_topic if score < lowest]
    return round((max(below) + lowest) / 2, 4) if below else 0.0


def _support(results: Sequence[QuestionResult]) -> float | None:
    further = [
        (score, hit)
        for result in results
        if result.question.answerable
        for score, hit in list(zip(result.read_scores, result.read_hits, strict=True))[1:]
        if math.isfinite(score)
    ]
    relevant = sum(hit for _, hit in further)
    if not relevant:
        return None

    def f1(threshold: float) -> float:
        kept = [hit for score, hit in further if score >= threshold]
        right = sum(kept)
        return 2 * right / (len(kept) + relevant) if kept else 0.0

    candidates = _between(sorted({score for score, _ in further}))
    return max(candidates, key=lambda c: (f1(c[0]), c[1], -c[0]))[0]


def _between(scores: list[float]) -> list[tuple[float, float]]:
    """Thresholds halfway between neighbouring scores (and just outside them), with their margins."""
    pad = (scores[-1] - scores[0]) * 0.05 or 1e-6
    return [
        (scores[0] - pad, pad),
        *(((low + high) / 2, (high - low) / 2) for low, high in pairwise(scores)),
        (scores[-1] + pad, pad),
    ]


def _finite(score: float | None) -> float:
    """A non-finite score can never reach a threshold."""
    return score if score is not None and math.isfinite(score) else -math.inf
