"""Measure what citebot quotes: `citebot eval` and the metrics behind it.

A question file holds one JSON object per line, ``{"question": str, "evidence": [str, ...]}`` with an
optional ``"kind"`` (``answerable``, ``off_topic``, ``near_topic``); empty evidence marks a question the
documents do not answer. Each question is asked of the engine once per retrieval mode, so hybrid,
dense-only and lexical-only figures come from the same run on the same machine.

The metric functions are pure functions of :class:`QuestionResult` values, so they are tested on
hand-made results without a model or an index.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from bot.errors import IndexMissingError, QuestionsFileError
from bot.models import Answer, Passage, RetrievalMode

if TYPE_CHECKING:
    from bot.settings import Settings

PASSAGES = 5
"""Passage hit@k looks at this many retrieved passages."""

ALL_MODES: tuple[RetrievalMode, ...] = (RetrievalMode.HYBRID, RetrievalMode.DENSE, RetrievalMode.LEXICAL)


class Kind(Enum):
    ANSWERABLE = "answerable"
    OFF_TOPIC = "off_topic"
    NEAR_TOPIC = "near_topic"
    UNANSWERABLE = "unanswerable"
    """Empty evidence and no ``kind`` given: unanswerable, neither split said."""


@dataclass(frozen=True)
class EvalQuestion:
    question: str
    evidence: tuple[str, ...]
    kind: Kind
    line: int

    @property
    def answerable(self) -> bool:
        return self.kind is Kind.ANSWERABLE


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
    """The score abstention compares with min_score; measured only when the set has unanswerable
    questions, since only calibration needs it and it costs one more retrieval per question."""
    seconds: float


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


@dataclass(frozen=True)
class EvalReport:
    source: str
    min_score: float
    suggested_min_score: float | None
    """The threshold :func:`calibrate` picks on these results (hybrid). Adopt it only from a dev set."""
    modes: tuple[ModeReport, ...]
    results: tuple[QuestionResult, ...]


class EvalEngine(Protocol):
    """The part of ``bot.pipeline.Engine`` the evaluation uses."""

    @property
    def min_score(self) -> float:
        """The threshold in use: CITEBOT_MIN_SCORE if set, else the one recorded with the index."""
        ...

    def ask(self, question: str, *, mode: RetrievalMode) -> Answer: ...

    def search(self, question: str, *, mode: RetrievalMode, limit: int) -> tuple[Passage, ...]: ...


# ---------------------------------------------------------------------------------------------------
# reading questions


def load_questions(path: Path) -> tuple[EvalQuestion, ...]:
    """Read a question file; every problem names the file and line, so it can be fixed in place."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise QuestionsFileError(f"Question file {path} not found. Give the path of a .jsonl file.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise QuestionsFileError(f"Cannot read question file {path}: {error}.") from None
    questions = tuple(
        _parse_line(path, number, line) for number, line in enumerate(lines, start=1) if line.strip()
    )
    if not questions:
        raise QuestionsFileError(
            f"{path} holds no questions. Write one JSON object per line: "
            '{"question": "...", "evidence": ["..."]}.'
        )
    return questions


def _parse_line(path: Path, number: int, line: str) -> EvalQuestion:
    where = f"{path} line {number}"
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise QuestionsFileError(f"{where}: not valid JSON ({error.msg}).") from None
    if not isinstance(record, dict):
        raise QuestionsFileError(f'{where}: expected an object like {{"question": ..., "evidence": [...]}}.')
    question = record.get("question")
    if not isinstance(question, str) or not question.strip():
        raise QuestionsFileError(f'{where}: "question" must be a non-empty string.')
    evidence = record.get("evidence")
    if not isinstance(evidence, list) or not all(isinstance(item, str) and item.strip() for item in evidence):
        raise QuestionsFileError(
            f'{where}: "evidence" must be a list of non-empty strings ([] for a question the documents '
            "do not answer)."
        )
    kind = _kind(where, record.get("kind"), bool(evidence))
    return EvalQuestion(question=question.strip(), evidence=tuple(evidence), kind=kind, line=number)


def _kind(where: str, value: object, has_evidence: bool) -> Kind:
    if value is None:
        return Kind.ANSWERABLE if has_evidence else Kind.UNANSWERABLE
    try:
        kind = Kind(value)
    except ValueError:
        names = ", ".join(kind.value for kind in Kind)
        raise QuestionsFileError(f'{where}: "kind" must be one of {names}, not {value!r}.') from None
    if (kind is Kind.ANSWERABLE) != has_evidence:
        need = "needs evidence" if kind is Kind.ANSWERABLE else "must have empty evidence"
        raise QuestionsFileError(f'{where}: a question of kind "{kind.value}" {need}.')
    return kind


# ---------------------------------------------------------------------------------------------------
# pure metrics


def fold(text: str) -> str:
    """Case and whitespace folded, so a hit does not depend on capitals or line breaks."""
    return " ".join(text.casefold().split())


def is_hit(sentence: str, evidence: Iterable[str]) -> bool:
    """A quoted sentence hits when it contains an evidence string or is contained in one.

    The second way lets a long evidence span count a sentence splitter's shorter fragment of it; it
    must be a run of whole words there, or a quoted "a" would hit every evidence string holding an a.
    """
    quoted = fold(sentence)
    if not quoted:
        return False
    inside = re.compile(rf"(?<!\w){re.escape(quoted)}(?!\w)")
    return any(span in quoted or inside.search(span) for span in map(fold, evidence) if span)


def contains_evidence(passage: str, evidence: Iterable[str]) -> bool:
    """A passage hits only by containing an evidence string: passages are longer than the answer."""
    text = fold(passage)
    return any(span in text for span in map(fold, evidence) if span)


def first_hit_rank(sentences: Sequence[str], evidence: Sequence[str]) -> int | None:
    """1-based rank of the first sentence that hits, or ``None``."""
    return next((rank for rank, text in enumerate(sentences, start=1) if is_hit(text, evidence)), None)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between ranks, as numpy's default."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def rate(flags: Iterable[bool]) -> float | None:
    """Share of true flags; ``None`` when there are none to count, so 0% never hides 'not measured'."""
    seen = list(flags)
    return sum(seen) / len(seen) if seen else None


def mean(values: Iterable[float]) -> float | None:
    seen = list(values)
    return sum(seen) / len(seen) if seen else None


def judge(
    question: EvalQuestion,
    mode: RetrievalMode,
    answer: Answer,
    passages: Sequence[Passage],
    top_score: float | None,
    seconds: float,
) -> QuestionResult:
    """Reduce what the engine returned to the strings and ranks the metrics need."""
    cited = tuple(citation.sentence for citation in answer.citations) if answer.answered else ()
    more = tuple(citation.sentence for citation in answer.more) if answer.answered else ()
    passage_rank = next(
        (
            rank
            for rank, passage in enumerate(passages[:PASSAGES], start=1)
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
        retrieved_sentence=passages[0].sentence.text if passages else None,
        top_score=top_score,
        seconds=seconds,
    )


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
            rank is not None and rank <= min(3, result.cited)
            for rank, result in zip(ranks, answerable, strict=True)
        ),
        passage_hit_at_5=rate(result.passage_rank is not None for result in answerable),
        mrr=mean(1 / rank if rank is not None else 0.0 for rank in ranks),
        retrieval_hit_at_1=rate(
            result.retrieved_sentence is not None
            and is_hit(result.retrieved_sentence, result.question.evidence)
            for result in answerable
        ),
        answered_rate=rate(result.answered for result in answerable),
        abstention_rate=rate(not result.answered for result in unanswerable),
        abstention_off_topic=abstained(Kind.OFF_TOPIC),
        abstention_near_topic=abstained(Kind.NEAR_TOPIC),
        latency_p50_ms=percentile(latencies, 50),
        latency_p95_ms=percentile(latencies, 95),
    )


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


# ---------------------------------------------------------------------------------------------------
# running


def run_eval(
    engine: EvalEngine,
    questions: Sequence[EvalQuestion],
    modes: Sequence[RetrievalMode] = ALL_MODES,
    *,
    source: str = "",
    progress: bool = False,
) -> EvalReport:
    """Ask every question in every mode; modes alternate per question so they share machine conditions.

    Latency is the time of ``engine.ask``, the call a user waits for. One untimed question per mode
    first loads the model and warms caches, so the first mode is not charged for them.
    """
    from tqdm import tqdm

    if not questions:
        raise ValueError("run_eval needs at least one question")
    for mode in modes:
        engine.ask(questions[0].question, mode=mode)
    scores_needed = not all(question.answerable for question in questions)
    results: list[QuestionResult] = []
    with tqdm(
        total=len(questions) * len(modes), desc="eval", unit="q", disable=not progress, leave=False
    ) as bar:
        for question in questions:
            for mode in modes:
                start = time.perf_counter()
                answer = engine.ask(question.question, mode=mode)
                seconds = time.perf_counter() - start
                passages = engine.search(question.question, mode=mode, limit=PASSAGES)
                score = (passages[0].score if passages else 0.0) if scores_needed else None
                results.append(judge(question, mode, answer, passages, score, seconds))
                bar.update()
    hybrid = [result for result in results if result.mode is RetrievalMode.HYBRID]
    calibrating = scores_needed and any(result.question.answerable for result in hybrid)
    suggested = calibrate(hybrid) if calibrating else None
    return EvalReport(
        source=source,
        min_score=engine.min_score,
        suggested_min_score=suggested,
        modes=tuple(summarise(results, mode) for mode in modes),
        results=tuple(results),
    )


def eval_command(questions_path: Path, settings: Settings, as_json: bool, progress: bool) -> str:
    """`citebot eval`: read the questions, open (or first build) the index, measure, render."""
    from bot.pipeline import Engine, build_index

    questions = load_questions(questions_path)
    try:
        engine = Engine.open(settings)
    except IndexMissingError:
        build_index(settings, progress=progress)
        engine = Engine.open(settings)
    report = run_eval(engine, questions, ALL_MODES, source=str(questions_path), progress=progress)
    return render_json(report) if as_json else render_text(report)


# ---------------------------------------------------------------------------------------------------
# rendering

_ROWS: tuple[tuple[str, str, bool], ...] = (
    # label, ModeReport field, shown as a percentage
    ("sentence hit@1", "hit_at_1", True),
    ("sentence hit@3", "hit_at_3", True),
    ("passage hit@5", "passage_hit_at_5", True),
    ("MRR (quoted sentences)", "mrr", False),
    ("top sentence hit@1, ungated", "retrieval_hit_at_1", True),
    ("answered (answerable)", "answered_rate", True),
    ("abstained (unanswerable)", "abstention_rate", True),
    ("  off-topic", "abstention_off_topic", True),
    ("  near-topic", "abstention_near_topic", True),
    ("latency p50 (ms)", "latency_p50_ms", False),
    ("latency p95 (ms)", "latency_p95_ms", False),
)


def _cell(value: float | None, percent: bool) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.1%}" if percent else (f"{value:.3f}" if value < 10 else f"{value:.1f}")


def mode_name(mode: RetrievalMode) -> str:
    return mode.name.lower()


def render_text(report: EvalReport) -> str:
    """The figures as a table: one row per metric, one column per retrieval mode."""
    first = report.modes[0]
    header = (
        f"citebot eval {report.source}: {first.answerable} answerable, {first.unanswerable} unanswerable "
        f"({first.off_topic} off-topic, {first.near_topic} near-topic); min_score {report.min_score:.4g}"
    )
    width = max(len(label) for label, _, _ in _ROWS) + 2
    lines = [header, "", " " * width + "".join(f"{mode_name(m.mode):>10}" for m in report.modes)]
    for label, name, percent in _ROWS:
        cells = "".join(f"{_cell(getattr(m, name), percent):>10}" for m in report.modes)
        lines.append(f"{label:<{width}}{cells}")
    if report.suggested_min_score is not None:
        lines += [
            "",
            f"min_score that calibrate() picks on these questions (hybrid): {report.suggested_min_score:.4g}"
            " (adopt it from a dev set only)",
        ]
    return "\n".join(lines)


def report_dict(report: EvalReport) -> dict[str, object]:
    """The figures as plain JSON values: the output format, not a border between modules."""
    return {
        "questions": report.source,
        "min_score": report.min_score,
        "suggested_min_score": report.suggested_min_score,
        "modes": {
            mode_name(m.mode): {
                "answerable": m.answerable,
                "unanswerable": m.unanswerable,
                "off_topic": m.off_topic,
                "near_topic": m.near_topic,
                **{name: _json_number(getattr(m, name)) for _, name, _ in _ROWS},
            }
            for m in report.modes
        },
    }


def _json_number(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else round(value, 6)


def render_json(report: EvalReport) -> str:
    return json.dumps(report_dict(report), indent=2)


def render_misses(report: EvalReport, mode: RetrievalMode = RetrievalMode.HYBRID) -> str:
    """One line per question the mode got wrong, with what it quoted: the starting point for tuning."""
    lines = []
    for result in report.results:
        if result.mode is not mode:
            continue
        question = result.question
        if question.answerable:
            rank = sentence_rank(result)
            if rank == 1:
                continue
            quoted = result.quoted[0] if result.quoted else "(abstained)"
            lines.append(
                f"line {question.line}: {question.question!r} score {_score(result)}, "
                f"hit at {rank or '-'}, passage hit at {result.passage_rank or '-'}\n"
                f"    expected {question.evidence[0]!r}\n    quoted   {quoted!r}"
            )
        elif result.answered:
            lines.append(
                f"line {question.line}: {question.question!r} ({question.kind.value}) answered, "
                f"score {_score(result)}\n    quoted   {result.quoted[0] if result.quoted else ''!r}"
            )
    return "\n".join(lines) if lines else "no misses"


def _score(result: QuestionResult) -> str:
    return "-" if result.top_score is None else f"{result.top_score:.4g}"
