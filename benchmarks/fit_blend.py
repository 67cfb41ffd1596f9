"""Would the reply rank better if it weighed the reader's verdict against the first cut's?

The reader judges a sentence by its words, its two neighbours and its article's title; the first cut
also knows how well the whole passage matched the question. This fits a blend of the two logits like
the first cut is fitted (softmax over each question's read sentences, so the hit ranks first), then a
logistic calibration of the blended score over every read sentence (the probability that it answers,
as the reader's own), and prints hit@1 among the read sentences for the reader alone and for the
blend. With ``--write`` it keeps the blend in the reader's ``reader.json`` (``bot/read/blend.py``),
where the read stage ranks and gates by it; write one only where this shows it pays on the news
questions, and refit the thresholds after (``training/try_reader.py`` does both).

Fitted on data the reader never learnt from: the last SQuAD v1.1 train articles, which
``training/train_reader.py`` never teaches (``training.data.UNTAUGHT_TRAIN_ARTICLES``). Reported on
the fit data and, held out, on ``eval/dev.jsonl`` (never fitted on: the reader trained on it),
``eval/test.jsonl`` and ``eval/holdout.jsonl``.

    python benchmarks/fit_blend.py --limit 800 [--reader FOLDER] [--write]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shlex
import sys
import tempfile
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.fit_scorer import Candidates, best_candidates, fit_calibration, fit_ranking  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.evaluation.metrics import is_hit  # noqa: E402
from bot.pipeline import build_index  # noqa: E402
from bot.read.blend import Blend, logit  # noqa: E402
from bot.read.reader import MODEL_FOLDER, SETTINGS_FILE, Reader  # noqa: E402
from bot.settings import Settings  # noqa: E402
from training.calibrate_reader import set_reader_settings  # noqa: E402
from training.data import UNTAUGHT_TRAIN_ARTICLES  # noqa: E402

TRAIN_SET = REPO.parent / "shared" / "bench" / "train-v1.1.json.gz"
WORK = Path("/tmp/citebot-blend")
NEWS_SETS = ("dev.jsonl", "test.jsonl", "holdout.jsonl")


def squad_module():
    """benchmarks/squad.py, loaded by path (pysbd ships a stray top-level ``benchmarks`` package)."""
    spec = importlib.util.spec_from_file_location("citebot_squad", REPO / "benchmarks" / "squad.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["citebot_squad"] = module
    spec.loader.exec_module(module)
    return module


def collect(engine: Engine, questions: list[dict]) -> Candidates:
    """The two logits of every sentence the reader read, whether it holds the evidence, per question."""
    features, labels, owner, answerable = [], [], [], []
    for number, question in enumerate(questions):
        evidence = question.get("evidence") or []
        for judged in engine.trace(question["question"]).judged:
            if judged.reader is None:
                continue
            features.append((logit(judged.reader), logit(judged.first_cut)))
            labels.append(1.0 if evidence and is_hit(judged.sentence.text, evidence) else 0.0)
            owner.append(number)
            answerable.append(bool(evidence))
    return Candidates(
        np.array(features, dtype=np.float64).reshape(-1, 2),
        np.array(labels),
        np.array(owner, dtype=np.int64),
        np.array(answerable, dtype=bool),
    )


def hit_at_1(weights: np.ndarray, data: Candidates) -> float:
    _, hits, answerable = best_candidates(weights, data)
    return float(hits[answerable].mean())


def separation(weights: np.ndarray, data: Candidates) -> str:
    """AUROC of the best sentence's score, answerable vs unanswerable questions ("-" without both)."""
    tops, _, answerable = best_candidates(weights, data)
    if answerable.all() or not answerable.any():
        return "-"
    return f"{roc_auc_score(answerable, tops):.3f}"


def calibrated(weights: np.ndarray, data: Candidates) -> Blend:
    """The ranking weights scaled, and offset, so the blend estimates P(this read sentence answers)."""
    scale, offset = fit_calibration(data.features @ weights, data.labels)
    return Blend(
        reader=round(float(scale * weights[0]), 4),
        first_cut=round(float(scale * weights[1]), 4),
        offset=round(offset, 4),
    )


def load_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=1500, help="SQuAD train questions, spread over the articles")
    parser.add_argument("--work", type=Path, default=WORK, help="where the untaught articles' index goes")
    parser.add_argument("--reader", type=Path, default=MODEL_FOLDER, help="the reader's folder (a candidate's)")
    parser.add_argument("--write", action="store_true", help="keep the fitted blend in the reader's reader.json")
    args = parser.parse_args()
    squad = squad_module()
    articles = squad.load_squad(TRAIN_SET)[-UNTAUGHT_TRAIN_ARTICLES:]
    documents, questions_path, count = squad.convert(articles, args.work, args.limit)
    settings = Settings(documents=documents, index=args.work / "index", _env_file=None)  # type: ignore[call-arg]
    reader = Reader(args.reader)
    built = squad.open_engine(settings, args.work / "built-from", rebuild=False)
    engine = Engine.open(settings, built.embedder, reader)
    fitted_on = collect(engine, load_jsonl(questions_path))
    with tempfile.TemporaryDirectory() as work:
        shipped = Settings(documents=REPO / "documents", index=Path(work) / "index", _env_file=None)  # type: ignore[call-arg]
        build_index(shipped)
        news = Engine.open(shipped, reader=reader)
        held_out = {name: collect(news, load_jsonl(REPO / "eval" / name)) for name in NEWS_SETS}

    weights = fit_ranking(fitted_on)
    blend = calibrated(weights, fitted_on)
    command = shlex.join(["python", *sys.argv])
    print("command:", command)
    print(f"{count} untaught SQuAD train questions; blend {blend.as_json()}")
    reader_alone = np.array([1.0, 0.0])
    for name, data in (("SQuAD train, untaught (fitted on)", fitted_on), *held_out.items()):
        print(
            f"{name:34s} hit@1 among the read sentences: reader alone {hit_at_1(reader_alone, data):.3f}, "
            f"blend {hit_at_1(weights, data):.3f}; AUROC answerable vs not: reader alone "
            f"{separation(reader_alone, data)}, blend {separation(weights, data)}"
        )
    if args.write:
        set_reader_settings(args.reader, blend=blend.as_json(), blend_command=command)
        print(f"wrote the blend into {args.reader / SETTINGS_FILE}")


if __name__ == "__main__":
    main()
