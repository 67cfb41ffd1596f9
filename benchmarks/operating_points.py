"""Compare readers where fitted thresholds cannot: at the same answered rate on the eval questions.

The abstention threshold is fitted on the 129 answerable questions of ``eval/calibration.jsonl`` (at
most 5 % abstained: the 7th-lowest confidence), so it moves with a few questions, and two readers
compared at their own fitted thresholds are mostly compared at different operating points. This asks every
question of ``eval/dev.jsonl`` and ``eval/test.jsonl`` (``--sets``; ``eval/holdout.jsonl`` is the largest
and is for this comparison only) with each reader and read count (hybrid mode, the shipped read stage
otherwise) and prints, without any fitted threshold:

- AUROC of the answer's confidence, answerable against unanswerable questions;
- hit@1 when forced to answer every answerable question;
- at the thresholds that answer 95, 90, 85 and 80 % of the answerable questions: hit@1 and the share
  of unanswerable questions abstained;
- where the right sentence was when the first quote missed it: read but ranked lower, a candidate
  the reader did not read, or in no retrieved passage.

The confidence is the best citation's score as the engine gates it (its blend with the first cut, where
the reader has one); ``--gate reader`` asks whether the reader's own verdict on that citation would
separate better (the blend is fitted to rank, and the first cut scores near-topic questions high).

    python benchmarks/operating_points.py --readers bot/read/model training/.work/run3/model --read 6 10
    python benchmarks/operating_points.py --readers bot/read/model training/.work/run5/model --sets holdout
    python benchmarks/operating_points.py --sets calibration test holdout --gate reader
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

try:
    from sklearn.metrics import roc_auc_score
except ImportError:
    sys.exit('benchmarks/operating_points.py needs scikit-learn: pip install -e ".[bench]"')

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import bot.read.stage as stage  # noqa: E402
from bot.engine import Engine, Trace  # noqa: E402
from bot.evaluation.machine import cpu_description  # noqa: E402
from bot.evaluation.metrics import is_hit  # noqa: E402
from bot.evaluation.questions import EvalQuestion, load_questions  # noqa: E402
from bot.pipeline import build_index  # noqa: E402
from bot.read.reader import Reader  # noqa: E402
from bot.settings import Settings  # noqa: E402

ANSWERED = (0.95, 0.90, 0.85, 0.80)


@dataclass(frozen=True)
class Outcome:
    """One question's best citation as the engine ranked it, before any threshold."""

    question: EvalQuestion
    confidence: float
    hit: bool
    missed_at: str
    """'' on a hit or an unanswerable question, else 'read', 'unread' or 'not retrieved'."""


def top_confidence(trace: Trace, gate: str) -> float:
    """The best citation's score as the shipped gate reads it ("blend"), or the reader's own verdict on it."""
    if not trace.read:
        return 0.0
    if gate == "blend":
        return trace.read[0].score
    top = trace.read[0].sentence
    return next((j.reader for j in trace.judged if j.sentence == top and j.reader is not None), 0.0)


def outcome(engine: Engine, question: EvalQuestion, gate: str) -> Outcome:
    trace = engine.trace(question.question)
    confidence = top_confidence(trace, gate)
    if not question.answerable:
        return Outcome(question, confidence, False, "")
    if trace.read and is_hit(trace.read[0].sentence.text, question.evidence):
        return Outcome(question, confidence, True, "")
    judged = [j for j in trace.judged if is_hit(j.sentence.text, question.evidence)]
    missed_at = "read" if any(j.probability is not None for j in judged) else "unread" if judged else "not retrieved"
    return Outcome(question, confidence, False, missed_at)


def report(outcomes: list[Outcome]) -> str:
    answerable = [o for o in outcomes if o.question.answerable]
    unanswerable = [o for o in outcomes if not o.question.answerable]
    auroc = roc_auc_score([o.question.answerable for o in outcomes], [o.confidence for o in outcomes])
    cells = [f"AUROC {auroc:.3f}", f"forced hit@1 {100 * np.mean([o.hit for o in answerable]):.1f}"]
    ranked = sorted(o.confidence for o in answerable)
    for rate in ANSWERED:
        threshold = ranked[round((1 - rate) * len(ranked))]
        hit = np.mean([o.hit and o.confidence >= threshold for o in answerable])
        abstained = np.mean([o.confidence < threshold for o in unanswerable])
        cells.append(f"@{100 * rate:.0f}% {100 * hit:.1f}/{100 * abstained:.1f}")
    misses = [o.missed_at for o in answerable if not o.hit]
    where = ", ".join(f"{where} {misses.count(where)}" for where in ("read", "unread", "not retrieved"))
    return " | ".join(cells) + f" | misses: {where}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readers", type=Path, nargs="+", default=[REPO / "bot" / "read" / "model"])
    parser.add_argument("--read", type=int, nargs="+", default=[stage.READ_CANDIDATES], help="read counts")
    parser.add_argument("--sets", nargs="+", default=["dev", "test"], help="question sets of eval/ (e.g. holdout)")
    parser.add_argument(
        "--gate",
        choices=("blend", "reader"),
        default="blend",
        help="the score the thresholds act on: the shipped blend, or the reader's own verdict on the top citation",
    )
    args = parser.parse_args()
    shipped = stage.READ_CANDIDATES
    with tempfile.TemporaryDirectory() as work:
        settings = Settings(documents=REPO / "documents", index=Path(work) / "index", _env_file=None)  # type: ignore[call-arg]
        build_index(settings)
        print("command:", shlex.join(["python", "benchmarks/operating_points.py", *sys.argv[1:]]))
        print(f"CPU: {cpu_description()}")
        print("cells @N%: hit@1 / unanswerable abstained at the threshold that answers N % of answerable questions")
        for folder in args.readers:
            engine = Engine.open(settings, reader=Reader(folder))
            for count in args.read:
                stage.READ_CANDIDATES = count
                for name in args.sets:
                    questions = load_questions(REPO / "eval" / f"{name}.jsonl")
                    outcomes = [outcome(engine, question, args.gate) for question in questions]
                    print(f"{folder} read {count} {name}: {report(outcomes)}", flush=True)
        stage.READ_CANDIDATES = shipped


if __name__ == "__main__":
    main()
