"""Coverage gaps: abstained questions recorded, near-identical wordings grouped, listed most asked first."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot import feedback
from bot.cli import main
from bot.feedback import FeedbackStore
from bot.gaps import command_line_asker, coverage_gaps, question_words, record_gap, similar


def test_a_gap_is_recorded_and_listed(tmp_path: Path) -> None:
    record_gap(tmp_path, "Who won the 2021 Libyan election?", "cli", "hash-a", 0.07)
    (gap,) = coverage_gaps(tmp_path)
    assert gap.question == "Who won the 2021 Libyan election?" and gap.count == 1 and gap.askers == 1
    assert gap.best_confidence == pytest.approx(0.07) and gap.last_asked
    with sqlite3.connect(tmp_path / "feedback.sqlite") as connection:
        assert connection.execute("SELECT channel, asker_hash FROM gaps").fetchall() == [("cli", "hash-a")]


def test_near_identical_wordings_are_grouped_most_asked_first(tmp_path: Path) -> None:
    asked = [
        ("what is the population of Tripoli", "a"),
        ("Who won the 2021 Libyan election?", "a"),
        ("who won the 2021 libyan election", "b"),
        ("Who won the Libyan election in 2021??", "c"),
        ("Who won the 2021 Libyan elections?", None),
        ("Who won the 2014 Libyan election?", "a"),
    ]
    for question, asker in asked:
        record_gap(tmp_path, question, "general", asker, None)
    gaps = coverage_gaps(tmp_path)
    assert [gap.count for gap in gaps] == [4, 1, 1]
    assert gaps[0].question == "Who won the 2021 Libyan elections?" and gaps[0].askers == 3
    assert len(gaps[0].wordings) == 4 and gaps[0].best_confidence is None
    assert {gap.question for gap in gaps[1:]} == {
        "what is the population of Tripoli",
        "Who won the 2014 Libyan election?",
    }


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("Who is Haftar?", "who is haftar", True),
        ("What did the minister say about the taxes?", "what did the minister say about taxes", True),
        ("Who won the 2021 election?", "Who won the 2014 election?", False),
        ("Where is the clock tower?", "Where is the crane?", False),
        ("?", "!!", True),
    ],
)
def test_similar_wordings(first: str, second: str, same: bool) -> None:
    assert similar(question_words(first), question_words(second)) is same


def test_recording_never_raises(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocked = tmp_path / "index"
    blocked.write_text("a file where the index folder should be", encoding="utf-8")
    record_gap(blocked, "question", "cli", None, 0.1)
    assert "Could not record" in caplog.text


def test_the_command_line_asker_is_a_salted_hash(tmp_path: Path) -> None:
    import os

    asker = command_line_asker(tmp_path)
    if not hasattr(os, "getuid"):
        assert asker is None
        return
    assert asker and len(asker) == 64
    assert asker != hashlib.sha256(str(os.getuid()).encode()).hexdigest(), "salted"
    assert command_line_asker(tmp_path) == asker


def test_the_gaps_command(tmp_path: Path) -> None:
    runner = CliRunner()
    empty = runner.invoke(main, ["gaps", "--index", str(tmp_path)])
    assert empty.exit_code == 0 and "No unanswered questions" in empty.output
    for question in ("Who founded Wagner?", "who founded wagner", "How many people live in Benghazi?"):
        record_gap(tmp_path, question, "cli", None, 0.05)
    listed = runner.invoke(main, ["gaps", "--index", str(tmp_path)])
    lines = listed.output.strip().splitlines()
    assert "2x" in lines[0] and "founded wagner" in lines[0] and "+1 similar wording" in lines[0]
    assert "1x" in lines[1] and "Benghazi" in lines[1]
    data = json.loads(runner.invoke(main, ["gaps", "--json", "--index", str(tmp_path)]).output)
    assert [gap["count"] for gap in data["gaps"]] == [2, 1]
    assert set(data["gaps"][0]) == {"question", "count", "askers", "last_asked", "best_confidence", "wordings"}


OLD_GAPS_TABLE = """
CREATE TABLE IF NOT EXISTS gaps (
    id INTEGER PRIMARY KEY, question TEXT NOT NULL, channel TEXT NOT NULL, asker_hash TEXT,
    confidence REAL, asked_at TEXT NOT NULL
)
"""


@pytest.mark.parametrize("had_gaps", [True, False])
def test_a_feedback_file_from_before_the_gaps_migration_keeps_its_votes_and_gaps(
    tmp_path: Path, had_gaps: bool
) -> None:
    """Before, the gaps table was made on first use beside feedback's migration 1; now it is migration 2."""
    with sqlite3.connect(tmp_path / "feedback.sqlite") as connection:
        connection.executescript(feedback.MIGRATIONS[0])
        connection.execute("PRAGMA user_version = 1")
        connection.execute(
            "INSERT INTO answers VALUES ('a1', 'who is Haftar?', NULL, '[]', '2024-01-01T00:00:00+00:00')"
        )
        if had_gaps:
            connection.execute(OLD_GAPS_TABLE)
            connection.execute("INSERT INTO gaps VALUES (1, 'Who founded Wagner?', 'cli', NULL, 0.1, '2024-01-01')")
    record_gap(tmp_path, "who founded wagner", "cli", None, 0.05)
    [gap] = coverage_gaps(tmp_path)
    assert gap.count == (2 if had_gaps else 1)
    assert FeedbackStore(tmp_path / "feedback.sqlite").answer("a1") is not None
    with sqlite3.connect(tmp_path / "feedback.sqlite") as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == len(feedback.MIGRATIONS)


def test_wordings_that_differ_in_how_they_ask_are_one_question(tmp_path: Path) -> None:
    for question in ("Who won the Libyan election?", "Can you please tell me who won the Libyan elections?"):
        record_gap(tmp_path, question, "cli", None, None)
    record_gap(tmp_path, "Do you know anything about who won the Libyan election", "cli", None, None)
    assert [gap.count for gap in coverage_gaps(tmp_path)] == [3]
