"""What the linear first cut reads of each sentence: similarities, word coverage, answer type.

Pure functions of a query and the retrieved passages; the weights live in ``linear.json``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from bot.models import Sentence
from bot.retrieve.search import Query, RetrievedPassage
from bot.retrieve.terms import stems, words

FEATURES = (
    "sentence",  # cosine of question and sentence
    "neighbours",  # best cosine of the sentences around it in its passage
    "passage",  # cosine of question and the passage (mean of its sentence vectors)
    "coverage",  # share of the question's IDF weight that the sentence holds
    "passage_coverage",  # the same over the whole passage
    "rank",  # 1 / (1 + the passage's rank after fusion)
    "short",  # 1 for a sentence under six words
    "answer_type",  # +1 when the sentence holds what the question asks for (number, time, name), -1 when not
    "bigrams",  # share of the question's word pairs found in the sentence
    "length",  # log(1 + words in the sentence)
)

NUMBER = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozens?|hundreds?|thousands?|"
    r"millions?|billions?)\b",
    re.IGNORECASE,
)
TIME = re.compile(
    r"\b(?:1\d{3}|20\d{2})\b|\b(?:January|February|March|April|May|June|July|August|September|October|November|"
    r"December|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|century|decade|ago|earlier|later)\b"
)
NAME = re.compile(r"(?<!^)(?<![.!?]\s)\b[A-Z][a-z]+")
QUESTION_TYPES = (
    (re.compile(r"\bhow (?:many|much|long|old|far|large|big)\b|\bwhat (?:percentage|number|amount)\b"), NUMBER),
    (re.compile(r"\bwhen\b|\bwhat (?:year|date|day|month|time|century)\b|\bwhich year\b"), TIME),
    (re.compile(r"\bwho\b|\bwhom\b|\bwhose\b"), NAME),
)


@dataclass(frozen=True)
class Candidate:
    """A sentence of a retrieved passage, where it sits, and the features the first cut reads."""

    passage: RetrievedPassage
    position: int  # index of the sentence in ``passage.sentences``
    features: tuple[float, ...]

    @property
    def sentence(self) -> Sentence:
        return self.passage.sentences[self.position]


def answer_pattern(question: str) -> re.Pattern[str] | None:
    """What a sentence answering this question must hold, for how many / when / who questions."""
    lowered = question.casefold()
    return next((answer for asks, answer in QUESTION_TYPES if asks.search(lowered)), None)


def candidates(query: Query, passages: tuple[RetrievedPassage, ...]) -> list[Candidate]:
    """Every sentence of these passages, with its features (see FEATURES)."""
    answer = answer_pattern(query.question)
    found = []
    for passage in passages:
        similarity = np.clip(passage.vectors @ query.vector, 0.0, 1.0)
        mean = passage.vectors.mean(axis=0)
        passage_similarity = float(np.clip(mean @ query.vector / max(float(np.linalg.norm(mean)), 1e-9), 0, 1))
        passage_coverage = coverage(query.weights, set(stems(words(passage.text))))
        for position, sentence in enumerate(passage.sentences):
            neighbours = [p for p in range(max(0, position - 1), position + 2) if p != position and p < len(similarity)]
            sentence_stems = stems(words(sentence.text))
            features = (
                float(similarity[position]),
                float(max((similarity[p] for p in neighbours), default=0.0)),
                passage_similarity,
                coverage(query.weights, set(sentence_stems)),
                passage_coverage,
                1.0 / (1.0 + passage.rank),
                1.0 if len(sentence.text.split()) < 6 else 0.0,
                0.0 if answer is None else 1.0 if answer.search(sentence.text) else -1.0,
                len(query.pairs & set(pairwise(sentence_stems))) / len(query.pairs) if query.pairs else 0.0,
                math.log1p(len(sentence_stems)),
            )
            found.append(Candidate(passage, position, features))
    return found


def coverage(weights: dict[str, float], found: set[str]) -> float:
    """The share of the question's term weight that the text holds."""
    total = sum(weights.values())
    return sum(weight for stem, weight in weights.items() if stem in found) / total if total else 0.0
