"""A deterministic stand-in for the embedding model, for the fast test tier.

Each word (case-folded) is hashed into one of 384 buckets with a sign, and the counts are normalised:
texts that share words are similar, unrelated texts are near orthogonal. It needs no download, no
torch, and gives the same vectors in every process, so an index built with it behaves like a real one
for everything but meaning.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

FAKE_MODEL = "test/hashing-embedder"


class HashingEmbedder:
    name = FAKE_MODEL

    def __init__(self, dimension: int = 384) -> None:
        self._dimension = dimension

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        vectors = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.casefold()):
                digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self._dimension
                vectors[row, bucket] += 1.0 if digest[4] & 1 else -1.0
            norm = float(np.linalg.norm(vectors[row]))
            vectors[row] = vectors[row] / norm if norm else vectors[row]
            if not norm:
                vectors[row, 0] = 1.0
        return vectors


class KeywordReader:
    """A stand-in for the trained reader: a sentence answers when it holds every given keyword, and
    the answer words are the first run of digits or capitalised words in it (none when it has none); a
    sentence without the keywords gets 0.01, a clear "no" under any threshold calibration picks.
    Deterministic and instant, so the read stage's plumbing is tested without the model."""

    blend = None
    """Judges alone, as a reader whose reader.json has no blend."""

    def __init__(self, *keywords: str) -> None:
        self.keywords = tuple(keyword.casefold() for keyword in keywords)
        self.read_calls: list[tuple[str, int]] = []

    def read(self, question: str, candidates: list) -> list:
        from bot.read.reader import AnswerWords, Reading

        self.read_calls.append((question, len(candidates)))
        readings = []
        for candidate in candidates:
            text = candidate.sentence
            answers = all(keyword in text.casefold() for keyword in self.keywords)
            words = re.search(r"\d[\d,.]*|(?:[A-Z][\w-]+ )*[A-Z][\w-]+", text[1:])
            found = AnswerWords(words.start() + 1, words.end() + 1, 0.95) if words else None
            readings.append(Reading(0.9 if answers else 0.01, 2.0 if answers else -2.0, found))
        return readings
