"""Coverage gaps: abstained questions recorded, near-identical wordings grouped, listed most asked first."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
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
