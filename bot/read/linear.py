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

from bot.errors import ModelError
from bot.read.features import FEATURES
from bot.read.fitted import is_number, read_fitted

WEIGHTS_FILE = Path(__file__).with_name("linear.json")
RESTORE_HINT = "Restore it with `git checkout -- bot/read/linear.json` (or reinstall citebot)."


@dataclass(frozen=True)
class LinearScorer:
    """A linear ranking of sentences, fitted per question (softmax over its candidates), and a
    logistic calibration of the score, which estimates the probability that a sentence answers."""

    weights: tuple[float, ...]  # in the order of FEATURES
    scale: float
    offset: float

    @classmethod
    def load(cls, path: Path | None = None) -> LinearScorer:
        """The fitted weights; a missing or damaged file is one ModelError line that says how to restore it."""
        path = path or WEIGHTS_FILE
        fitted = read_fitted(path, "first cut's weights file", RESTORE_HINT)
        if not isinstance(fitted, dict):
            fitted = {}
        named = fitted.get("weights")
        if not isinstance(named, dict) or set(named) != set(FEATURES):
            found = sorted(named) if isinstance(named, dict) else named
            raise ModelError(
                f"The first cut's weights {path.name} name the features {found}, expected {sorted(FEATURES)}. "
                f"{RESTORE_HINT}"
            )
        numbers = [named[name] for name in FEATURES] + [fitted.get("scale"), fitted.get("offset")]
        if not all(is_number(n) for n in numbers):
            raise ModelError(f"The first cut's weights {path.name} hold a value that is not a number. {RESTORE_HINT}")
        *weights, scale, offset = (float(n) for n in numbers)
        return cls(tuple(weights), scale, offset)

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
