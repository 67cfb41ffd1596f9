"""The linear first cut: a fast score for every sentence of the retrieved passages.

It picks which sentences the reader reads, and it is the whole judgement where no reader is loaded
(the fast test tier). Its weights are named values in ``linear.json``, refitted by
``benchmarks/fit_scorer.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.read.features import FEATURES

WEIGHTS_FILE = Path(__file__).with_name("linear.json")


@dataclass(frozen=True)
class LinearScorer:
    """A linear ranking of sentences, fitted per question (softmax over its candidates), and a
    logistic calibration of the score, which estimates the probability that a sentence answers."""

    weights: tuple[float, ...]  # in the order of FEATURES
    scale: float
    offset: float

    @classmethod
    def load(cls, path: Path = WEIGHTS_FILE) -> LinearScorer:
        fitted = json.loads(path.read_text(encoding="utf-8"))
        named = fitted["weights"]
        if set(named) != set(FEATURES):
            raise ValueError(f"{path} names the features {sorted(named)}, expected {sorted(FEATURES)}")
        return cls(tuple(float(named[name]) for name in FEATURES), float(fitted["scale"]), float(fitted["offset"]))

    def save(self, path: Path, about: str) -> None:
        fitted = {
            "about": about,
            "weights": dict(zip(FEATURES, self.weights, strict=True)),
            "scale": self.scale,
            "offset": self.offset,
        }
        path.write_text(json.dumps(fitted, indent=2) + "\n", encoding="utf-8")

    def logits(self, features: np.ndarray) -> np.ndarray:
        return self.scale * (features @ np.asarray(self.weights)) + self.offset

    def score(self, features: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logits(features)))
