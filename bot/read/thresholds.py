"""The thresholds a reply is judged by, from one file (``thresholds.json``) and one setting.

- ``answer``: the best citation must reach it, or the reply abstains (CITEBOT_MIN_SCORE overrides it);
- ``support``: a 2nd or 3rd citation is shown when it reaches this on its own;
- ``answer_words``: the reader's answer words open the reply, and are marked, when their span
  confidence reaches it;
- ``relevance``: the first cut's best sentence must reach it for the reader to read at all: below it
  no sentence of the articles touches the question (off-topic), however a sentence might read.

``citebot eval eval/calibration.jsonl`` fits ``answer``, ``support`` and ``relevance`` (on questions
the reader never learnt from); ``training/calibrate_reader.py`` fits ``answer_words``. The engine,
``citebot stats`` and the build record all read them here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.errors import ModelError
from bot.read.fitted import is_number, read_fitted
from bot.settings import Settings

THRESHOLDS_FILE = Path(__file__).with_name("thresholds.json")
JUDGES = ("reader", "first_cut")
OPTIONAL = {"answer_words": 1.0, "relevance": 0.0}
"""What a file without these entries means: no answer words, every question read."""
RESTORE_HINT = "Restore it with `git checkout -- bot/read/thresholds.json` (or reinstall citebot)."


@dataclass(frozen=True)
class Thresholds:
    answer: float
    support: float
    answer_words: float
    source: str
    """Where ``answer`` came from: "CITEBOT_MIN_SCORE" or the file and its judge."""
    objective: str = ""
    """Which calibration objective ``answer`` met when it was fitted."""
    relevance: float = 0.0


def load_thresholds(judge: str, min_score: float | None = None, path: Path | None = None) -> Thresholds:
    """The thresholds for ``judge`` ("reader" or "first_cut"); ``min_score`` (CITEBOT_MIN_SCORE) overrides
    the answer threshold. A missing, damaged or out-of-range file is one ModelError line."""
    path = path or THRESHOLDS_FILE
    fitted = read_fitted(path, "thresholds file", RESTORE_HINT)
    entry = fitted.get(judge) if isinstance(fitted, dict) else None
    if not isinstance(entry, dict):
        raise ModelError(f"The thresholds file {path.name} has no thresholds for the {judge}. {RESTORE_HINT}")
    values: dict[str, float] = {}
    for name in ("answer", "support", "answer_words", "relevance"):
        value = entry.get(name, OPTIONAL.get(name))
        if not isinstance(value, int | float) or not _probability(value):
            raise ModelError(
                f"The thresholds file {path.name} gives {judge}.{name} = {value!r}; it must be a number from 0 "
                f"to 1. {RESTORE_HINT}"
            )
        values[name] = float(value)
    source = f"bot/read/{path.name} ({judge})"
    if min_score is not None:
        values["answer"], source = min_score, "CITEBOT_MIN_SCORE"
    return Thresholds(**values, source=source, objective=str(entry.get("objective", "")))


def thresholds_for(settings: Settings) -> Thresholds:
    """The thresholds the engine uses under these settings (CITEBOT_READER picks the judge)."""
    return load_thresholds("reader" if settings.reader else "first_cut", settings.min_score)


def _probability(value: object) -> bool:
    return isinstance(value, int | float) and is_number(value) and 0 <= value <= 1
