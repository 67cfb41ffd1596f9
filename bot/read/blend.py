"""The score that ranks and gates the reply: the reader's verdict weighed against the first cut's.

The reader judges a sentence by its words, its two neighbours and its article's title; the first cut
also knows how well the whole passage matched the question. ``benchmarks/fit_blend.py --write`` fits
the weights on SQuAD train articles the reader never learnt from and keeps them in the reader's own
``reader.json`` (they belong to that model); a reader without them judges alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bot.read.fitted import is_number

EDGE = 1e-6


def logit(probability: float) -> float:
    clipped = min(max(probability, EDGE), 1 - EDGE)
    return math.log(clipped / (1 - clipped))


@dataclass(frozen=True)
class Blend:
    """P(the sentence answers) = sigmoid(reader x logit(reader's) + first_cut x logit(first cut's) + offset)."""

    reader: float
    first_cut: float
    offset: float

    @classmethod
    def from_json(cls, value: object) -> Blend:
        """The blend a ``reader.json`` records; ValueError names what is wrong."""
        if not isinstance(value, dict) or set(value) != {"reader", "first_cut", "offset"}:
            raise ValueError(f"its blend must hold reader, first_cut and offset, not {value!r}")
        if not all(is_number(number) for number in value.values()):
            raise ValueError("its blend holds a value that is not a number")
        return cls(float(value["reader"]), float(value["first_cut"]), float(value["offset"]))

    def probability(self, reader: float, first_cut: float) -> float:
        z = self.reader * logit(reader) + self.first_cut * logit(first_cut) + self.offset
        return 1.0 / (1.0 + math.exp(-min(max(z, -700.0), 700.0)))

    def as_json(self) -> dict[str, float]:
        return {"reader": self.reader, "first_cut": self.first_cut, "offset": self.offset}
