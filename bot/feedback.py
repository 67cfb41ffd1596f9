"""Votes on answers, kept in their own SQLite file beside the index builds so rebuilds never touch them.

The file also remembers each answer's question (and thread context) by answer id, so buttons under an
answer keep working after a restart: "More sources" re-asks, a vote knows what it was about.
User ids are stored only as SHA-256 hashes salted with a secret made once per installation and kept
beside the database (``feedback.salt``, readable by its owner only), so nobody can find a voter by
hashing candidate ids.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.models import Citation, Vote
from bot.settings import Settings
from bot.sqlite_files import DatabaseFile, connected, opened, translated

FILE_NAME = "feedback.sqlite"
SALT_FILE_NAME = "feedback.salt"
SALT_BYTES = 32
IF_DAMAGED = "Move it away to start a new one; the votes and unanswered questions in it are then lost."

MIGRATIONS = (
    """
    CREATE TABLE answers (
        answer_id TEXT PRIMARY KEY,
        question TEXT NOT NULL,
        context TEXT,
        citations TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE feedback (
        id INTEGER PRIMARY KEY,
        answer_id TEXT NOT NULL,
        question TEXT NOT NULL,
        citations TEXT NOT NULL,
        user_hash TEXT NOT NULL,
        vote INTEGER NOT NULL CHECK (vote IN (-1, 1)),
        created_at TEXT NOT NULL,
        UNIQUE (answer_id, user_hash)
    );
    """,
    # 2: the questions the sources did not cover (bot/gaps.py). Files written before this migration may
    # already have the table: it was made on first use.
    """
    CREATE TABLE IF NOT EXISTS gaps (
        id INTEGER PRIMARY KEY,
        question TEXT NOT NULL,
        channel TEXT NOT NULL,
        asker_hash TEXT,
        confidence REAL,
        asked_at TEXT NOT NULL
    );
    """,
)


@dataclass(frozen=True)
class AnswerRecord:
    answer_id: str
    question: str
    context: str | None
    citations: str


def feedback_path(settings: Settings) -> Path:
    return settings.index / FILE_NAME


def feedback_file(path: Path) -> DatabaseFile:
    """The feedback database (votes, remembered answers, unanswered questions) as its errors name it."""
    return DatabaseFile(path, "feedback database", IF_DAMAGED)


@contextmanager
def feedback_database(path: Path) -> Iterator[sqlite3.Connection]:
    """The feedback database in one transaction, its schema up to date; what SQLite reports about it is
    one ``DatabaseFileError``."""
    with connected(feedback_file(path), MIGRATIONS) as connection:
        yield connection


def installation_salt(database: Path) -> bytes:
    """The secret salt kept beside ``database``, made on first use.

    It is written to a private temporary file and linked into place, so a reader never sees a
    half-written salt and two processes starting at once agree on the one that was linked first."""
    path = database.with_name(SALT_FILE_NAME)
    try:
        return _read_salt(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{SALT_FILE_NAME}.{secrets.token_hex(8)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secrets.token_bytes(SALT_BYTES))
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process made it first: theirs is kept
            os.link(draft, path)
    finally:
        draft.unlink(missing_ok=True)
    return _read_salt(path)


def _read_salt(path: Path) -> bytes:
    salt = path.read_bytes()
    if len(salt) != SALT_BYTES:
        raise OSError(f"{path} is damaged ({len(salt)} bytes, not {SALT_BYTES}); delete it to make a new one")
    return salt


def hash_user(user_id: int, salt: bytes) -> str:
    """One-way: enough to count one vote per person, useless to find who voted without the salt."""
    return hashlib.sha256(salt + str(user_id).encode()).hexdigest()


def citations_json(citations: tuple[Citation, ...]) -> str:
    return json.dumps(
        [{"document": c.document, "start": c.start, "end": c.end, "sentence": c.sentence} for c in citations],
        ensure_ascii=False,
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class FeedbackStore:
    """Small synchronous store; a connection per call keeps it safe from any thread. What SQLite reports
    passes as it is (``sqlite3.Error``): the Discord bot answers without buttons when it cannot store."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.salt = installation_salt(path)
        with opened(path, MIGRATIONS):
            pass

    def remember_answer(
        self, answer_id: str, question: str, context: str | None, citations: tuple[Citation, ...]
    ) -> None:
        with opened(self.path, MIGRATIONS) as connection:
            connection.execute(
                "INSERT OR REPLACE INTO answers (answer_id, question, context, citations, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (answer_id, question, context, citations_json(citations), _now()),
            )

    def answer(self, answer_id: str) -> AnswerRecord | None:
        with opened(self.path, MIGRATIONS) as connection:
            connection.row_factory = sqlite3.Row
            row = connection.execute(
                "SELECT answer_id, question, context, citations FROM answers WHERE answer_id = ?",
                (answer_id,),
            ).fetchone()
        return None if row is None else AnswerRecord(**row)

    def record_vote(self, answer_id: str, user_id: int, vote: int) -> bool:
        """Store (or change) this user's vote on the answer; False if the answer is unknown."""
        if vote not in (-1, 1):
            raise ValueError(f"a vote is +1 or -1, not {vote}")
        record = self.answer(answer_id)
        if record is None:
            return False
        with opened(self.path, MIGRATIONS) as connection:
            connection.execute(
                "INSERT INTO feedback (answer_id, question, citations, user_hash, vote, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (answer_id, user_hash) "
                "DO UPDATE SET vote = excluded.vote, created_at = excluded.created_at",
                (answer_id, record.question, record.citations, self.hash_user(user_id), vote, _now()),
            )
        return True

    def hash_user(self, user_id: int) -> str:
        """How this installation records a person: for votes, and for anyone else who must count people."""
        return hash_user(user_id, self.salt)

    def votes(self) -> list[Vote]:
        """Every vote, oldest first."""
        with opened(self.path, MIGRATIONS) as connection:
            connection.row_factory = sqlite3.Row
            rows = connection.execute(
                "SELECT question, citations, user_hash, vote, created_at FROM feedback ORDER BY id"
            ).fetchall()
        return [Vote(**row) for row in rows]

    def summary(self, worst: int = 5) -> str:
        with opened(self.path, MIGRATIONS) as connection:
            up, down = connection.execute(
                "SELECT COALESCE(SUM(vote = 1), 0), COALESCE(SUM(vote = -1), 0) FROM feedback"
            ).fetchone()
            answered = connection.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
            disliked = connection.execute(
                "SELECT question, SUM(vote = -1) AS downs, SUM(vote = 1) AS ups FROM feedback "
                "GROUP BY question HAVING downs > 0 ORDER BY downs DESC, ups ASC, question LIMIT ?",
                (worst,),
            ).fetchall()
        if up + down == 0:
            return f"No feedback yet ({answered} answers given in Discord)."
        lines = [
            f"{up + down} votes on {answered} answers: {up} 👍, {down} 👎 ({100 * up / (up + down):.0f}% helpful)."
        ]
        if disliked:
            lines.append("Most 👎 questions:")
            lines.extend(f"  {downs} 👎 / {ups} 👍  {question}" for question, downs, ups in disliked)
        return "\n".join(lines)


def feedback_summary(settings: Settings) -> str:
    """What ``citebot feedback`` prints; a damaged or locked database is a ``DatabaseFileError`` (one line)."""
    path = feedback_path(settings)
    if not path.exists():
        return f"No feedback yet ({path} does not exist: the Discord bot has not answered anything)."
    with translated(feedback_file(path)):
        return FeedbackStore(path).summary()
