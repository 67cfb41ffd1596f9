"""Fit the linear first cut of the read stage (``bot/read/linear.json``) and measure it.

The first cut is a logistic model over a few features of each candidate sentence (see
``bot.read.features.FEATURES``). It is fitted on development questions only: the shipped
``eval/dev.jsonl`` and a fold of SQuAD v1.1 dev (every other Wikipedia article, by
``benchmarks/squad.py``'s order). With ``--write`` it saves the weights to ``bot/read/linear.json``;
it prints hit@1 on the development data and on held-out data (``eval/test.jsonl`` and the other
SQuAD fold), so nothing is reported on data it was fitted on.

    python benchmarks/fit_scorer.py --squad-documents /tmp/citebot-squad/documents \\
        --squad-index /tmp/citebot-squad/index --squad-questions /tmp/citebot-squad/questions.jsonl

(`benchmarks/squad.py` writes those three; the shipped articles are indexed into a temp folder.)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shlex
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

try:
    from scipy.optimize import minimize
    from sklearn.linear_model import LogisticRegression
except ImportError:
    sys.exit('benchmarks/fit_scorer.py needs scipy and scikit-learn: pip install -e ".[bench]"')

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.engine import Engine, check_question  # noqa: E402
from bot.evaluation.metrics import is_hit  # noqa: E402
from bot.models import RetrievalMode  # noqa: E402
from bot.pipeline import build_index  # noqa: E402
from bot.read.features import FEATURES, candidates  # noqa: E402
from bot.read.linear import WEIGHTS_FILE, LinearScorer  # noqa: E402
from bot.settings import Settings  # noqa: E402


@dataclass(frozen=True)
class Candidates:
    """Features and labels of every candidate sentence, and which question each belongs to."""

    features: np.ndarray
    labels: np.ndarray
    question: np.ndarray
    answerable: np.ndarray

    def __add__(self, other: Candidates) -> Candidates:
        offset = int(self.question.max(initial=-1)) + 1
        return Candidates(
            np.vstack([self.features, other.features]),
            np.concatenate([self.labels, other.labels]),
            np.concatenate([self.question, other.question + offset]),
            np.concatenate([self.answerable, other.answerable]),
        )


def collect(engine: Engine, questions: list[dict]) -> Candidates:
    retriever = engine._retriever
    features, labels, owner, answerable = [], [], [], []
    for number, question in enumerate(questions):
        query = retriever.query(check_question(question["question"]))
        evidence = question.get("evidence") or []
        for candidate in candidates(query, retriever.retrieve(query, RetrievalMode.HYBRID)):
            features.append(candidate.features)
            labels.append(1.0 if evidence and is_hit(candidate.sentence.text, evidence) else 0.0)
            owner.append(number)
            answerable.append(bool(evidence))
    return Candidates(
        np.array(features, dtype=np.float64).reshape(-1, len(FEATURES)),
        np.array(labels),
        np.array(owner, dtype=np.int64),
        np.array(answerable, dtype=bool),
    )


def fit_ranking(data: Candidates, ridge: float = 1e-3) -> np.ndarray:
    """Weights that put a hit first: softmax over each answerable question's candidates."""
    groups = [np.flatnonzero(data.question == q) for q in np.unique(data.question)]
    groups = [g for g in groups if data.labels[g].any()]

    def loss(weights: np.ndarray) -> tuple[float, np.ndarray]:
        scores = data.features @ weights
        total, gradient = ridge * weights @ weights, 2 * ridge * weights
        for group in groups:
            z = scores[group] - scores[group].max()
            p = np.exp(z) / np.exp(z).sum()
            hit = data.labels[group] > 0
            total -= np.log(p[hit].sum())
            gradient += data.features[group].T @ (p - np.where(hit, p, 0) / p[hit].sum())
        return total, gradient

    return minimize(loss, np.zeros(data.features.shape[1]), jac=True, method="L-BFGS-B").x


def best_candidates(weights: np.ndarray, data: Candidates) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per question: the best candidate's raw score, whether it is a hit, and whether it is answerable."""
    scores = data.features @ weights
    tops, hits, answerable = [], [], []
    for question in np.unique(data.question):
        group = np.flatnonzero(data.question == question)
        best = group[np.argmax(scores[group])]
        tops.append(scores[best])
        hits.append(data.labels[best])
        answerable.append(data.answerable[best])
    return np.array(tops), np.array(hits), np.array(answerable, dtype=bool)


def fit_calibration(tops: np.ndarray, hits: np.ndarray) -> tuple[float, float]:
    """Scale and offset so that sigmoid(scale * top + offset) estimates P(the quoted sentence is a hit):
    an unregularised logistic regression (a huge C) of the hits on the best scores."""
    model = LogisticRegression(C=1e6, max_iter=1000).fit(tops.reshape(-1, 1), hits > 0)
    return float(model.coef_[0][0]), float(model.intercept_[0])


def fit(development: Candidates) -> LinearScorer:
    weights = fit_ranking(development)
    scale, offset = fit_calibration(*best_candidates(weights, development)[:2])
    return LinearScorer(tuple(round(float(w), 4) for w in weights), scale=round(scale, 4), offset=round(offset, 4))


def hit_at(scorer: LinearScorer, data: Candidates, k: int) -> float:
    scores = data.features @ np.asarray(scorer.weights)
    hits = []
    for question in np.unique(data.question[data.answerable]):
        group = np.flatnonzero(data.question == question)
        hits.append(data.labels[group[np.argsort(-scores[group])[:k]]].max())
    return float(np.mean(hits))


def load_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def shipped_engine(work: Path) -> Engine:
    settings = Settings(documents=REPO / "documents", index=work / "index", _env_file=None)  # type: ignore[call-arg]
    build_index(settings)
    return Engine.open(settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad-documents", type=Path, required=True)
    parser.add_argument("--squad-index", type=Path, required=True)
    parser.add_argument("--squad-questions", type=Path, required=True)
    parser.add_argument("--squad-data", type=Path, default=REPO.parent / "shared" / "bench" / "squad-dev-v1.1.json.gz")
    parser.add_argument("--squad-limit", type=int, default=750, help="questions per SQuAD fold")
    parser.add_argument("--shipped-weight", type=int, default=10, help="copies of each shipped dev question")
    parser.add_argument("--write", action="store_true", help=f"save the weights to {WEIGHTS_FILE}")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as work:
        shipped = shipped_engine(Path(work))
        dev = collect(shipped, load_jsonl(REPO / "eval" / "dev.jsonl"))
        test = collect(shipped, load_jsonl(REPO / "eval" / "test.jsonl"))
    squad = Engine.open(
        Settings(documents=args.squad_documents, index=args.squad_index, _env_file=None)  # type: ignore[call-arg]
    )
    squad_questions = load_jsonl(args.squad_questions)
    folds = _squad_folds(squad_questions, args.squad_data)
    squad_dev, squad_held_out = (collect(squad, _spread(fold, args.squad_limit)) for fold in folds)

    development = squad_dev
    for _ in range(args.shipped_weight):
        development = development + dev
    scorer = fit(development)
    command = shlex.join(["python", *sys.argv])
    print("command:", command)
    print("weights:", dict(zip(FEATURES, scorer.weights, strict=True)), "scale", scorer.scale, "offset", scorer.offset)
    if args.write:
        about = f"Fitted by `{command}` on eval/dev.jsonl and the even SQuAD v1.1 pages; never on eval/test.jsonl."
        scorer.save(WEIGHTS_FILE, about)
        print(f"wrote {WEIGHTS_FILE}")
    for name, data in (
        ("shipped dev", dev),
        ("shipped test (held out)", test),
        ("SQuAD fold A (fitted on)", squad_dev),
        ("SQuAD fold B (held out)", squad_held_out),
    ):
        print(f"{name:26s} sentence hit@1 {hit_at(scorer, data, 1):.3f}  hit@3 {hit_at(scorer, data, 3):.3f}")


def _spread(items: list[dict], limit: int) -> list[dict]:
    """``limit`` items taken evenly across the list, so every article of the fold is represented."""
    return items[:: max(1, len(items) // limit)][:limit]


def _squad_folds(questions: list[dict], data: Path) -> tuple[list[dict], list[dict]]:
    """Questions of even- and odd-numbered Wikipedia articles, in SQuAD's own order."""
    spec = importlib.util.spec_from_file_location("citebot_squad", REPO / "benchmarks" / "squad.py")
    assert spec and spec.loader
    squad = importlib.util.module_from_spec(spec)
    sys.modules["citebot_squad"] = squad
    spec.loader.exec_module(squad)
    article_of = {q.id: number for number, article in enumerate(squad.load_squad(data)) for q in article.questions}
    folds: tuple[list[dict], list[dict]] = ([], [])
    for question in questions:
        folds[article_of[question["id"]] % 2].append(question)
    return folds


if __name__ == "__main__":
    main()
