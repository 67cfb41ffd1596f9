"""`citebot eval` reports: a table for people, JSON for tools, and the misses for tuning."""

from __future__ import annotations

import json
import math

from bot.answer import fold_case_and_space
from bot.evaluation.machine import cpu_description
from bot.evaluation.metrics import QuestionResult, sentence_rank
from bot.evaluation.run import EvalReport
from bot.models import RetrievalMode

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


JUDGES = {"reader": "trained reader", "first_cut": "linear first cut"}


def render_report(report: EvalReport) -> str:
    """The figures as a table: one row per metric, one column per retrieval mode."""
    first = report.modes[0]
    header = (
        f"citebot eval {report.source}: {first.answerable} answerable, {first.unanswerable} unanswerable "
        f"({first.off_topic} off-topic, {first.near_topic} near-topic); "
        f"judged by the {JUDGES.get(report.judge, report.judge)}, min_score {report.min_score:.4g}"
    )
    width = max(len(label) for label, _, _ in _ROWS) + 2
    lines = [header, "", " " * width + "".join(f"{mode_name(m.mode):>10}" for m in report.modes)]
    for label, name, percent in _ROWS:
        cells = "".join(f"{_cell(getattr(m, name), percent):>10}" for m in report.modes)
        lines.append(f"{label:<{width}}{cells}")
    lines += ["", mode_note(report), syndication_note(report), f"latency measured on: {cpu_description()}"]
    if report.calibration is not None:
        support = report.calibration.support
        lines += [
            "",
            f"answer threshold that calibration picks on these questions (hybrid): {report.calibration.answer:.4g}"
            " (adopt it from eval/calibration.jsonl only: bot/read/thresholds.json)",
            f"objective {report.calibration.objective}",
            "support threshold for further citations: "
            + ("none (no further sentence held evidence)" if support is None else f"{support:.4g}"),
            "relevance threshold on the first cut's best sentence (below it a question is off-topic, unread): "
            + (f"{report.calibration.relevance:.4g}" if report.calibration.relevance else "none (off-topic overlaps)"),
        ]
    return "\n".join(lines)


def mode_note(report: EvalReport) -> str:
    """Which retrieval mode quotes the right sentence first most often, or that these questions do
    not tell the modes apart (as on a collection of one article)."""
    scored = sorted(((m.hit_at_1 or 0.0, mode_name(m.mode)) for m in report.modes), reverse=True)
    if len(scored) == 1:
        return f"modes: only {scored[0][1]} was measured"
    if len({value for value, _ in scored}) == 1:
        return f"modes: all give the same sentence hit@1 ({scored[0][0]:.1%}); these questions do not tell them apart"
    others = ", ".join(f"{name} {value:.1%}" for value, name in scored[1:])
    return f"modes: {scored[0][1]} quotes the right sentence first most often ({scored[0][0]:.1%}; {others})"


def syndication_note(report: EvalReport) -> str:
    """Syndicated copies of one article must be cited once ("also in"): an answer quoting one sentence
    twice shows copies that were not collapsed."""
    hybrid = [r for r in report.results if r.mode is RetrievalMode.HYBRID and r.cited]
    repeated = sum(len({fold_case_and_space(quote) for quote in r.quoted[: r.cited]}) < r.cited for r in hybrid)
    return (
        f"syndication: {repeated} of {len(hybrid)} hybrid answers quote one sentence twice "
        "(copies of an article are cited once, marked 'also in')"
    )


def report_dict(report: EvalReport) -> dict[str, object]:
    """The figures as plain JSON values: the output format, not a border between modules."""
    return {
        "questions": report.source,
        "judge": report.judge,
        "cpu": cpu_description(),
        "min_score": report.min_score,
        "suggested_min_score": report.suggested_min_score,
        "calibration": None
        if report.calibration is None
        else {
            "answer": report.calibration.answer,
            "objective": report.calibration.objective,
            "support": report.calibration.support,
            "relevance": report.calibration.relevance,
        },
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
