"""`citebot eval --plot FILE.png`: what a person tuning the answer threshold would rather look at than read.

Against the threshold: sentence hit@1 and the answered rate of the answerable questions, and the
abstention rate of the unanswerable ones, from the hybrid results of one run, with the threshold in
use marked. The curve is a pure function of the results; drawing it needs the optional extra
``citebot[plot]`` (matplotlib), imported only here, so `citebot --help` stays instant.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.errors import PlotError
from bot.evaluation.metrics import QuestionResult, sentence_rank
from bot.models import RetrievalMode

if TYPE_CHECKING:
    from bot.evaluation.run import EvalReport

POINTS = 201
INSTALL_HINT = "Install the plotting extra: pip install 'citebot[plot]' (or .venv/bin/pip install matplotlib)."


@dataclass(frozen=True)
class ThresholdCurve:
    """Rates at each threshold from 0 to 1; a rate is None when no question counts towards it."""

    thresholds: tuple[float, ...]
    hit_at_1: tuple[float | None, ...]
    answered: tuple[float | None, ...]
    abstained: tuple[float | None, ...]
    in_use: float


def threshold_curve(results: Sequence[QuestionResult], in_use: float, points: int = POINTS) -> ThresholdCurve:
    """The rates each threshold would give, from the hybrid results: a question answers when its top
    score reaches the threshold, as the engine decides. Its first citation is the one it had where it
    answered, else the best sentence it read (what it would have cited first)."""
    hybrid = [result for result in results if result.mode is RetrievalMode.HYBRID]
    answerable = [(_score(r), _first_cited_hits(r)) for r in hybrid if r.question.answerable]
    unanswerable = [_score(r) for r in hybrid if not r.question.answerable]
    thresholds = tuple(step / (points - 1) for step in range(points))
    return ThresholdCurve(
        thresholds=thresholds,
        hit_at_1=tuple(_share(score >= t and hit for score, hit in answerable) for t in thresholds),
        answered=tuple(_share(score >= t for score, _ in answerable) for t in thresholds),
        abstained=tuple(_share(score < t for score in unanswerable) for t in thresholds),
        in_use=in_use,
    )


def check_plot_file(path: Path) -> str:
    """The format to write ``path`` in (its suffix: png, svg, pdf...). Refuses `--plot` in one line, before
    the evaluation runs, when the extra is not installed or the suffix names no format it can write."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise PlotError(f"--plot needs matplotlib, which is not installed. {INSTALL_HINT}") from None
    kind = path.suffix.lower().lstrip(".")
    if kind not in Figure().canvas.get_supported_filetypes():
        named = f"a .{kind} file" if kind else "a file without a suffix"
        raise PlotError(f"--plot cannot write {named}. Give a name ending in .png, .svg or .pdf.")
    return kind


def write_plot(report: EvalReport, path: Path) -> Path:
    """Draw the threshold curve of ``report`` into ``path``."""
    kind = check_plot_file(path)
    from matplotlib.figure import Figure

    curve = threshold_curve(report.results, report.min_score)
    figure = Figure(figsize=(8, 5), layout="constrained")
    axes = figure.subplots()
    for values, label, style in (
        (curve.hit_at_1, "sentence hit@1 (answerable)", "-"),
        (curve.answered, "answered (answerable)", "--"),
        (curve.abstained, "abstained (unanswerable)", ":"),
    ):
        if any(value is not None for value in values):
            shown = [math.nan if value is None else value for value in values]
            axes.plot(curve.thresholds, shown, style, label=label, drawstyle="steps-post", linewidth=2)
    axes.axvline(curve.in_use, color="grey", linewidth=1)
    axes.annotate(
        f"in use: {curve.in_use:g}", (curve.in_use, 0.02), xytext=(4, 0), textcoords="offset points", color="grey"
    )
    axes.set(
        xlim=(0, 1),
        ylim=(0, 1.02),
        xlabel="answer threshold (CITEBOT_MIN_SCORE)",
        ylabel="share of questions",
        title=f"{Path(report.source).name or 'eval'}: judged by the {report.judge.replace('_', ' ')} (hybrid)",
    )
    axes.grid(alpha=0.3)
    axes.legend(loc="center right")
    figure.savefig(path, dpi=120, format=kind)
    return path


def _score(result: QuestionResult) -> float:
    score = result.top_score
    return score if score is not None and math.isfinite(score) else -math.inf


def _first_cited_hits(result: QuestionResult) -> bool:
    if result.answered:
        return sentence_rank(result) == 1
    return bool(result.read_hits) and result.read_hits[0]


def _share(flags: Iterable[bool]) -> float | None:
    seen = list(flags)
    return sum(seen) / len(seen) if seen else None
