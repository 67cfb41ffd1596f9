"""Calibrate the shipped int8 reader on the validation articles, as it runs in citebot.

    python training/calibrate_reader.py [--model bot/read/model]

``train_reader.py`` ends by running this on what it exported. It reads the validation articles (the
v2.0 dev articles at ``VALIDATION_POSITIONS``: never trained on, never held out) through
``bot.read.reader.Reader`` itself, so the figures are those of the quantised model, and fits:
- the probability that a sentence answers: a logistic fit of the answer logit and the span gap,
  written to ``reader.json`` (``calibration``, with the validation figures);
- the span confidence from which answer words are shown (``answer_words`` of the reader in
  ``bot/read/thresholds.json``): the lowest at which the words shown equal a gold answer (SQuAD's
  normalisation) at least 90 % of the time, over each answerable question's best sentence.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.evaluation.answer_words import exact_match, f1_score  # noqa: E402
from bot.read.reader import MODEL_FOLDER, SETTINGS_FILE, Reader  # noqa: E402
from bot.read.thresholds import THRESHOLDS_FILE  # noqa: E402
from training.data import load_squad, neighbours, squad_questions  # noqa: E402

WORDS_PRECISION = 0.90


@dataclass(frozen=True)
class Verdicts:
    """The reader's raw verdicts on one validation question's candidates."""

    answerable: bool
    positive: np.ndarray  # bool per candidate
    logits: np.ndarray
    gaps: np.ndarray
    words: tuple[str | None, ...]
    confidences: np.ndarray
    golds: tuple[tuple[str, ...], ...]  # gold answer texts inside each candidate


def read_validation(reader: Reader) -> list[Verdicts]:

    articles, _, validation_titles = load_squad()
    verdicts = []
    for article in articles:
        if article["title"] not in validation_titles:
            continue
        for question in squad_questions(article):
            candidates = [neighbours(question.sentences, i, question.title) for i in range(len(question.sentences))]
            candidates += list(question.others)
            readings = reader.read(question.text, candidates)
            positive = np.array([i in {a for a, _, _ in question.answers} for i in range(len(candidates))])
            golds = tuple(
                tuple(question.sentences[i][s:e] for j, s, e in question.answers if j == i and s >= 0)
                if i < len(question.sentences)
                else ()
                for i in range(len(candidates))
            )
            verdicts.append(
                Verdicts(
                    answerable=question.answerable,
                    positive=positive,
                    logits=np.array([r.logit for r in readings]),
                    gaps=np.array([r.gap for r in readings]),
                    words=tuple(
                        None if r.answer is None else candidates[i].sentence[r.answer.start : r.answer.end]
                        for i, r in enumerate(readings)
                    ),
                    confidences=np.array([0.0 if r.answer is None else r.answer.confidence for r in readings]),
                    golds=golds,
                )
            )
    return verdicts


def fit(verdicts: list[Verdicts]) -> dict[str, float]:
    """The calibration and the validation figures of the quantised reader."""
    features = np.concatenate([np.stack([v.logits, v.gaps], axis=1) for v in verdicts])
    labels = np.concatenate([v.positive for v in verdicts])
    model = LogisticRegression(C=1e6, max_iter=1000).fit(features, labels)
    scale, gap_scale = (float(w) for w in model.coef_[0])
    offset = float(model.intercept_[0])
    best = [float((v.logits * scale + v.gaps * gap_scale).max()) for v in verdicts]
    answerable = [v.answerable for v in verdicts]
    top = [int((v.logits * scale + v.gaps * gap_scale).argmax()) for v in verdicts]
    right = [bool(v.positive[t]) for v, t in zip(verdicts, top, strict=True) if v.answerable]
    shown = [
        (float(v.confidences[t]), v.words[t], v.golds[t])
        for v, t in zip(verdicts, top, strict=True)
        if v.answerable and v.positive[t] and v.words[t] is not None and v.golds[t]
    ]
    exact = [any(exact_match(w, g) for g in golds) for _, w, golds in shown]
    overlap = [max(f1_score(w, g) for g in golds) for _, w, golds in shown]
    return {
        "questions": len(verdicts),
        "auroc_confidence": float(roc_auc_score(answerable, best)) if not all(answerable) else float("nan"),
        "right_sentence": sum(right) / max(len(right), 1),
        "exact_match_when_right": sum(exact) / max(len(exact), 1),
        "f1_when_right": sum(overlap) / max(len(overlap), 1),
        "answer_words_threshold": words_threshold([c for c, _, _ in shown], exact),
        "logit_scale": scale,
        "gap_scale": gap_scale,
        "offset": offset,
    }


def words_threshold(confidences: list[float], exact: list[bool], precision: float = WORDS_PRECISION) -> float:
    """The lowest span confidence above which the words shown are exact at least ``precision`` of the time."""
    order = np.argsort(-np.array(confidences), kind="stable")
    chosen = 1.0
    right = 0
    for count, i in enumerate(order, start=1):
        right += exact[i]
        if right / count >= precision:
            chosen = float(confidences[i])
    return round(chosen, 4)


def calibrate(model: Path, thresholds: Path | None) -> dict[str, float]:
    """Fit on the validation articles; write reader.json (and ``answer_words`` to ``thresholds``)."""
    figures = fit(read_validation(Reader(model)))
    calibration = {"scale": figures["logit_scale"], "gap_scale": figures["gap_scale"], "offset": figures["offset"]}
    set_reader_settings(model, calibration=calibration, validation=figures)
    if thresholds is not None:
        set_reader_thresholds(thresholds, answer_words=figures["answer_words_threshold"])
    return figures


def set_reader_settings(model: Path, **values: object) -> None:
    """Write ``values`` into a reader folder's ``reader.json``, the rest untouched."""
    _update_json(model / SETTINGS_FILE, values)


def set_reader_thresholds(path: Path, **values: object) -> dict[str, object]:
    """Write ``values`` into the reader's entry of a thresholds file, the rest untouched; returns the entry."""
    return _update_json(path, values, entry="reader")


def _update_json(path: Path, values: dict[str, object], entry: str | None = None) -> dict[str, object]:
    """Update a JSON file's top level (or its ``entry``) with ``values``; returns what was updated."""
    document = json.loads(path.read_text(encoding="utf-8"))
    section = document if entry is None else document[entry]
    section.update(values)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return dict(section)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=MODEL_FOLDER, help="the reader folder to calibrate")
    parser.add_argument("--thresholds", type=Path, default=THRESHOLDS_FILE, help="where answer_words is written")
    arguments = parser.parse_args()
    started = time.monotonic()
    figures = calibrate(arguments.model, arguments.thresholds)
    print(json.dumps(figures, indent=2))
    command = "python training/calibrate_reader.py " + " ".join(sys.argv[1:])
    print(f"{time.monotonic() - started:.0f} s; wrote {arguments.model} and {arguments.thresholds}; command: {command}")


if __name__ == "__main__":
    main()
