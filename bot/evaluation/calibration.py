"""The abstention threshold to adopt, chosen on dev results."""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise

from bot.evaluation.metrics import QuestionResult
from bot.evaluation.questions import Kind


def calibrate(results: Sequence[QuestionResult], answered_at_least: float = 0.95) -> float:
    """The min_score to adopt, chosen on dev results by their top scores.

    Objective, in order: every off-topic question abstained; at least ``answered_at_least`` of the
    answerable questions answered (a bot that withholds answers it has is the worse failure, and
    the issue's target is 95 %); then as many unanswerable questions abstained as possible; ties go
    to the threshold with the widest margin to the nearest score, then to the lower one. When no
    threshold answers enough, the balanced objective (answered rate plus abstention rate) decides.
    A question is taken as answered when its top score is at least the threshold, as the engine decides.
    Use results of one mode, from a dev set.
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
    off_topic = [_finite(r.top_score) for r in results if r.question.kind is Kind.OFF_TOPIC]
    scores = sorted({score for score in answerable + unanswerable if math.isfinite(score)})
    if not scores:
        raise ValueError("calibrate needs at least one finite top score")
    pad = (scores[-1] - scores[0]) * 0.05 or 1e-6
    candidates = [
        (scores[0] - pad, pad),
        *(((low + high) / 2, (high - low) / 2) for low, high in pairwise(scores)),
        (scores[-1] + pad, pad),
    ]

    def answered(threshold: float) -> float:
        return sum(score >= threshold for score in answerable) / len(answerable)

    def abstained(threshold: float) -> float:
        return sum(score < threshold for score in unanswerable) / len(unanswerable)

    feasible = [(t, margin) for t, margin in candidates if all(score < t for score in off_topic)] or candidates
    enough = [(t, margin) for t, margin in feasible if answered(t) >= answered_at_least]
    if enough:
        best = max(enough, key=lambda candidate: (abstained(candidate[0]), candidate[1], -candidate[0]))
    else:
        best = max(
            feasible,
            key=lambda c: (answered(c[0]) + abstained(c[0]), c[1], -c[0]),
        )
    return best[0]


def _finite(score: float | None) -> float:
    """A non-finite score can never reach a threshold."""
    return score if score is not None and math.isfinite(score) else -math.inf
