"""Coverage gaps: the questions the sources could not answer, so admins see what to add next.

Every abstention is recorded in the feedback database (``<index>/feedback.sqlite``, which rebuilds
never touch) in a table of its own: the question, when, where (a Discord channel, or ``cli``), the
asker as a salted hash, and the best confidence the engine had. `citebot gaps` and ``/gaps`` list them
most asked first, near-identical wordings grouped.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.errors import CitebotError
from bot.feedback import FILE_NAME, feedback_database, hash_user, installation_salt
from bot.retrieve import terms

log = logging.getLogger(__name__)

SAME_QUESTION = 0.8
# How people ask rather than what they ask ("can you please tell me", "do you know anything about"):
# retrieval keeps these words (May is a month), but two wordings that differ only by them are one question.
ASKING_WORDS = frozenset({"please", "know", "anything", "may", "might", "shall"})
IGNORED = terms.STOPWORDS | ASKING_WORDS


@dataclass(frozen=True)
class Gap:
    """One question (or several near-identical wordings of it) that went unanswered."""

    question: str
    count: int
    askers: int
    last_asked: str
    best_confidence: float | None
    wordings: tuple[str, ...]


def record_gap(index_dir: Path, question: str, channel: str, asker_hash: str | None, confidence: float | None) -> None:
    """Remember an abstained question. Never raises: a question is answered even when this fails."""
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        with feedback_database(index_dir / FILE_NAME) as connection:
            connection.execute(
                "INSERT INTO gaps (question, channel, asker_hash, confidence, asked_at) VALUES (?, ?, ?, ?, ?)",
                (question, channel, asker_hash, confidence, datetime.now(UTC).isoformat(timespec="seconds")),
            )
    except (CitebotError, sqlite3.Error, OSError) as error:
        log.warning("Could not record an unanswered question in %s: %s", index_dir / FILE_NAME, error)


def command_line_asker(index_dir: Path) -> str | None:
    """The person at the command line, as a salted hash of their OS user id (None where there is none)."""
    getuid = getattr(os, "getuid", None)
    if getuid is None:
        return None
    try:
        return hash_user(getuid(), installation_salt(index_dir / FILE_NAME))
    except OSError as error:
        log.warning("Cannot read the feedback salt: %s", error)
        return None


def coverage_gaps(index_dir: Path) -> tuple[Gap, ...]:
    """The unanswered questions, near-identical wordings grouped, most asked first, then most recent; a
    damaged or locked database is a ``DatabaseFileError`` (one line)."""
    if not (index_dir / FILE_NAME).exists():
        return ()
    with feedback_database(index_dir / FILE_NAME) as connection:
        rows = connection.execute(
            "SELECT question, asker_hash, confidence, asked_at FROM gaps ORDER BY asked_at, id"
        ).fetchall()
    groups: list[_Group] = []
    for question, asker, confidence, asked_at in rows:
        words = question_words(question)
        group = next((g for g in groups if similar(g.words, words)), None)
        if group is None:
            group = _Group(words)
            groups.append(group)
        group.add(question, asker, confidence, asked_at)
    most_recent_first = sorted((group.gap() for group in groups), key=lambda gap: gap.last_asked, reverse=True)
    return tuple(sorted(most_recent_first, key=lambda gap: gap.count, reverse=True))


def question_words(question: str) -> frozenset[str]:
    """The words that make a question what it is, stemmed as retrieval stems them: case, punctuation,
    small words, asking words and endings (election, elections) ignored."""
    return frozenset(terms.stem(word) for word in terms.words(question) if word not in IGNORED)


def similar(first: frozenset[str], second: frozenset[str]) -> bool:
    """Near-identical wordings: their word sets overlap almost entirely (Jaccard >= 0.8)."""
    if not first or not second:
        return first == second
    return len(first & second) / len(first | second) >= SAME_QUESTION


class _Group:
    def __init__(self, words: frozenset[str]) -> None:
        self.words = words
        self.wordings: dict[str, int] = {}
        self.askers: set[str] = set()
        self.count = 0
        self.last_asked = ""
        self.latest = ""
        self.best: float | None = None

    def add(self, question: str, asker: str | None, confidence: float | None, asked_at: str) -> None:
        self.count += 1
        self.wordings[question] = self.wordings.get(question, 0) + 1
        if asker:
            self.askers.add(asker)
        if confidence is not None:
            self.best = confidence if self.best is None else max(self.best, confidence)
        if asked_at >= self.last_asked:
            self.last_asked, self.latest = asked_at, question

    def gap(self) -> Gap:
        wordings = sorted(self.wordings, key=lambda wording: -self.wordings[wording])
        return Gap(self.latest, self.count, len(self.askers), self.last_asked, self.best, tuple(wordings))
