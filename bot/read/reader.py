"""The trained reader: does this sentence answer the question, and which words are the answer?

A cross-encoder fine-tuned from all-MiniLM-L6-v2 (``training/train_reader.py``; ``model/MODEL_CARD.md``
says on what and how well), shipped as int8 ONNX and run with onnxruntime and tokenizers, so a
question never imports torch.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bot.errors import ModelError
from bot.onnx_session import cpu_session
from bot.read.blend import Blend
from bot.read.encoding import ReaderCandidate, encode_pairs, load_tokenizer

if TYPE_CHECKING:
    import onnxruntime
    from tokenizers import Tokenizer

log = logging.getLogger(__name__)

MODEL_FOLDER = Path(__file__).parent / "model"
MODEL_FILE = "reader.onnx"
TOKENIZER_FILE = "tokenizer.json"
SETTINGS_FILE = "reader.json"
LONGEST_ANSWER_TOKENS = 30
NO_SPAN_GAP = -1e4  # the span score of a candidate with no tokens: never an answer
RESTORE_HINT = (
    "Restore it with `git checkout -- bot/read/model` (or reinstall citebot), "
    "or rebuild it with `python training/train_reader.py`."
)


@dataclass(frozen=True)
class AnswerWords:
    """Answer words as offsets into the candidate sentence (the reader sees sentences, not articles: the
    read stage makes them a ``Span`` in article offsets), and how sure the span head is of exactly these
    words: P(start) x P(end) over the sentence's tokens and "no answer"."""

    start: int
    end: int
    confidence: float


@dataclass(frozen=True)
class Reading:
    """The reader's verdict on one candidate: calibrated probability that the sentence answers, its
    raw logit, and the answer words (None when "no answer" outscores every span)."""

    probability: float
    logit: float
    answer: AnswerWords | None = None
    gap: float = 0.0
    """The best span's score minus "no answer"'s: the second input of the calibration."""


@dataclass(frozen=True)
class _Loaded:
    session: onnxruntime.InferenceSession
    tokenizer: Tokenizer
    calibration: Calibration
    titles: bool
    """Whether the model learnt with article titles (``reader.json``); an older one reads without them."""
    blend: Blend | None
    """How the read stage weighs this model's verdict against the first cut's (``bot/read/blend.py``)."""


@dataclass(frozen=True)
class Calibration:
    """Logistic calibration of the two verdicts: the answer head's logit, and the gap between the
    best answer span and the "no answer" position ([CLS]), fitted on validation articles."""

    scale: float
    offset: float
    gap_scale: float = 0.0

    def probability(self, logits: np.ndarray, gaps: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.scale * logits + self.gap_scale * gaps + self.offset)))


class Reader:
    """Loads the model once, lazily; safe to call from several threads."""

    def __init__(self, folder: Path = MODEL_FOLDER) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._loaded: _Loaded | None = None

    def _load(self) -> _Loaded:
        with self._lock:
            if self._loaded is None:
                self._loaded = self._open()
            return self._loaded

    def _open(self) -> _Loaded:
        try:
            settings = json.loads((self.folder / SETTINGS_FILE).read_text(encoding="utf-8"))
            calibration = Calibration(**settings["calibration"])
            titles = settings.get("titles", False) is True
            blend = Blend.from_json(settings["blend"]) if "blend" in settings else None
            tokenizer = load_tokenizer(self.folder / TOKENIZER_FILE)
            session = cpu_session(self.folder / MODEL_FILE)
        except FileNotFoundError as error:
            raise ModelError(f"The reading model is missing ({error.filename}). {RESTORE_HINT}") from None
        except Exception as error:  # onnxruntime and json raise many kinds for a damaged file
            raise ModelError(f"The reading model in {self.folder} is damaged ({error}). {RESTORE_HINT}") from None
        return _Loaded(session, tokenizer, calibration, titles, blend)

    @property
    def blend(self) -> Blend | None:
        return self._load().blend

    def check(self) -> None:
        """Load now, so a missing or damaged model is reported before the first question."""
        self._load()

    def read(self, question: str, candidates: list[ReaderCandidate]) -> list[Reading]:
        if not candidates:
            return []
        loaded = self._load()
        session, tokenizer, calibration = loaded.session, loaded.tokenizer, loaded.calibration
        if not loaded.titles:
            candidates = [replace(candidate, title="") for candidate in candidates]
        inputs = encode_pairs(tokenizer, question, candidates)
        width = max(len(item.ids) for item in inputs)
        ids = np.zeros((len(inputs), width), dtype=np.int64)
        types = np.zeros_like(ids)
        mask = np.zeros_like(ids)
        for row, item in enumerate(inputs):
            ids[row, : len(item.ids)] = item.ids
            types[row, : len(item.types)] = item.types
            mask[row, : len(item.ids)] = 1
        try:
            logits, starts, ends = session.run(
                None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            )
        except Exception as error:  # onnxruntime raises its own exception types
            raise ModelError(f"The reading model in {self.folder} failed ({error}). {RESTORE_HINT}") from None
        spans = [
            best_span(starts[row], ends[row], item.candidate_start, len(item.candidate_offsets))
            for row, item in enumerate(inputs)
        ]
        no_answer = starts[:, 0].astype(np.float64) + ends[:, 0]
        gaps = np.array([NO_SPAN_GAP if span is None else span.score for span in spans]) - no_answer
        probabilities = calibration.probability(logits.astype(np.float64), gaps)
        readings = []
        for row, (item, span) in enumerate(zip(inputs, spans, strict=True)):
            words = None
            if span is not None and gaps[row] > 0:
                first, last = item.candidate_start + span.first, item.candidate_start + span.last
                words = AnswerWords(
                    start=item.candidate_offsets[span.first][0],
                    end=item.candidate_offsets[span.last][1],
                    confidence=float(_softmax(starts[row])[first] * _softmax(ends[row])[last]),
                )
            readings.append(Reading(float(probabilities[row]), float(logits[row]), words, float(gaps[row])))
        return readings


@dataclass(frozen=True)
class TokenSpan:
    first: int
    last: int
    score: float


def best_span(
    starts: np.ndarray, ends: np.ndarray, first: int, count: int, longest: int = LONGEST_ANSWER_TOKENS
) -> TokenSpan | None:
    """The best (first, last) token pair of the candidate, as indices into its tokens, with
    first <= last < first + longest, and its score; None for a candidate with no tokens."""
    if count == 0:
        return None
    table = starts[first : first + count, None].astype(np.float64) + ends[None, first : first + count]
    rows, columns = np.indices(table.shape)
    table = np.where((columns >= rows) & (columns < rows + longest), table, -np.inf)
    flat = int(table.argmax())
    return TokenSpan(flat // count, flat % count, float(table.flat[flat]))


def _softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities over positions; the masked ones (-1e4: outside the candidate) get none."""
    shifted = np.exp(logits.astype(np.float64) - logits.max())
    return shifted / shifted.sum()
