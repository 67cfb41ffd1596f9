"""`citebot eval`: every question asked once per retrieval mode, on one engine, measured.

Hybrid, dense-only and lexical-only figures come from the same run on the same machine; each
question goes through the engine once per mode (``Engine.trace``), which gives the retrieved
passages, the read sentences and the answer together.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from bot.evaluation.calibration import Calibration, calibrate_thresholds
from bot.evaluation.metrics import PASSAGES, ModeReport, QuestionResult, contains_evidence, is_hit, summarise
from bot.evaluation.questions import EvalQuestion
from bot.models import RetrievalMode

if TYPE_CHECKING:
    from bot.engine import Trace

ALL_MODES: tuple[RetrievalMode, ...] = (RetrievalMode.HYBRID, RetrievalMode.DENSE, RetrievalMode.LEXICAL)


@dataclass(frozen=True)
class EvalReport:
    source: str
    judge: str
    """Who chose the sentences: "reader" or "first_cut" (``Engine.judge``)."""
    min_score: float
    suggested_min_score: float | None
    """The answer threshold calibration picks on these results (hybrid). Adopt it only from a set never
    trained on (eval/calibration.jsonl)."""
    modes: tuple[ModeReport, ...]
    results: tuple[QuestionResult, ...]
    calibration: Calibration | None = None
    """What calibration chose on these results (hybrid), with the objective it met and the support threshold."""


class EvalEngine(Protocol):
    """The part of ``bot.engine.Engine`` the evaluation uses."""

    @property
    def min_score(self) -> float:
        """The threshold in use: CITEBOT_MIN_SCORE if set, else the calibrated one (``bot/read/thresholds.json``)."""
        ...

    @property
    def judge(self) -> str: ...

    def trace(self, question: str, *, mode: RetrievalMode) -> Trace: ...


def question_result(question: EvalQuestion, mode: RetrievalMode, trace: Trace, seconds: float) -> QuestionResult:
    """Reduce what the engine did with one question to the strings and ranks the metrics need."""
    answer = trace.answer
    cited = tuple(citation.sentence for citation in answer.citations) if answer.answered else ()
    more = tuple(citation.sentence for citation in answer.more) if answer.answered else ()
    passage_rank = next(
        (
            rank
            for rank, passage in enumerate(trace.retrieved[:PASSAGES], start=1)
            if contains_evidence(passage.text, question.evidence)
        ),
        None,
    )
    return QuestionResult(
        question=question,
        mode=mode,
        answered=answer.answered,
        quoted=cited + more,
        cited=len(cited),
        passage_rank=passage_rank,
        retrieved_sentence=trace.read[0].sentence.text if trace.read else None,
        top_score=answer.confidence,
        seconds=seconds,
        read_scores=tuple(passage.score for passage in trace.read),
        read_hits=tuple(is_hit(passage.sentence.text, question.evidence) for passage in trace.read),
        first_cut_best=max((sentence.first_cut for sentence in trace.judged), default=None),
    )


def run_eval(
    engine: EvalEngine,
    questions: Sequence[EvalQuestion],
    modes: Sequence[RetrievalMode] = ALL_MODES,
    *,
    source: str = "",
    progress: bool = False,
) -> EvalReport:
    """Ask every question in every mode; modes alternate per question so they share machine conditions.

    Latency is the time of the whole question, the wait a user has. One untimed question per mode
    first loads the models and warms caches, so the first mode is not charged for them.
    """
    from tqdm import tqdm

    if not questions:
        raise ValueError("run_eval needs at least one question")
    for mode in modes:
        engine.trace(questions[0].question, mode=mode)
    results: list[QuestionResult] = []
    with tqdm(total=len(questions) * len(modes), desc="eval", unit="q", disable=not progress, leave=False) as bar:
        for question in questions:
            for mode in modes:
                start = time.perf_counter()
                trace = engine.trace(question.question, mode=mode)
                results.append(question_result(question, mode, trace, time.perf_counter() - start))
                bar.update()
    hybrid = [result for result in results if result.mode is RetrievalMode.HYBRID]
    calibrating = any(r.question.answerable for r in hybrid) and not all(r.question.answerable for r in hybrid)
    calibration = calibrate_thresholds(hybrid) if calibrating else None
    return EvalReport(
        source=source,
        judge=engine.judge,
        min_score=engine.min_score,
        suggested_min_score=calibration.answer if calibration else None,
        modes=tuple(summarise(results, mode) for mode in modes),
        results=tuple(results),
        calibration=calibration,
    )
