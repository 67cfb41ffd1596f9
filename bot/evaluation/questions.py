"""Question sets for `citebot eval`: one JSON object per line, checked line by line.

``{"question": str, "evidence": [str, ...], "kind": "answerable" | "off_topic" | "near_topic"}``; empty
evidence marks a question the documents do not answer. Every problem names the file and line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from bot.errors import QuestionsFileError


class Kind(Enum):
    ANSWERABLE = "answerable"
    OFF_TOPIC = "off_topic"
    NEAR_TOPIC = "near_topic"
    UNANSWERABLE = "unanswerable"
    """Empty evidence and no ``kind`` given: unanswerable, neither split said."""


@dataclass(frozen=True)
class EvalQuestion:
    question: str
    evidence: tuple[str, ...]
    kind: Kind
    line: int

    @property
    def answerable(self) -> bool:
        return self.kind is Kind.ANSWERABLE


def load_questions(path: Path) -> tuple[EvalQuestion, ...]:
    """Read a question file; every problem names the file and line, so it can be fixed in place."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise QuestionsFileError(f"Question file {path} not found. Give the path of a .jsonl file.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise QuestionsFileError(f"Cannot read question file {path}: {error}.") from None
    questions = tuple(_parse_line(path, number, line) for number, line in enumerate(lines, start=1) if line.strip())
    if not questions:
        raise QuestionsFileError(
            f'{path} holds no questions. Write one JSON object per line: {{"question": "...", "evidence": ["..."]}}.'
        )
    return questions


def _parse_line(path: Path, number: int, line: str) -> EvalQuestion:
    where = f"{path} line {number}"
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise QuestionsFileError(f"{where}: not valid JSON ({error.msg}).") from None
    if not isinstance(record, dict):
        raise QuestionsFileError(f'{where}: expected an object like {{"question": ..., "evidence": [...]}}.')
    question = record.get("question")
    if not isinstance(question, str) or not question.strip():
        raise QuestionsFileError(f'{where}: "question" must be a non-empty string.')
    evidence = record.get("evidence")
    if not isinstance(evidence, list) or not all(isinstance(item, str) and item.strip() for item in evidence):
        raise QuestionsFileError(
            f'{where}: "evidence" must be a list of non-empty strings ([] for a question the documents do not answer).'
        )
    kind = _kind(where, record.get("kind"), bool(evidence))
    return EvalQuestion(question=question.strip(), evidence=tuple(evidence), kind=kind, line=number)


def _kind(where: str, value: object, has_evidence: bool) -> Kind:
    if value is None:
        return Kind.ANSWERABLE if has_evidence else Kind.UNANSWERABLE
    try:
        kind = Kind(value)
    except ValueError:
        names = ", ".join(kind.value for kind in Kind)
        raise QuestionsFileError(f'{where}: "kind" must be one of {names}, not {value!r}.') from None
    if (kind is Kind.ANSWERABLE) != has_evidence:
        need = "needs evidence" if kind is Kind.ANSWERABLE else "must have empty evidence"
        raise QuestionsFileError(f'{where}: a question of kind "{kind.value}" {need}.')
    return kind
