"""Questions about the latest state put newer articles first; other questions keep the score order."""

from __future__ import annotations

import pytest

from bot.models import Citation
from bot.recency import asks_for_latest, newest_first_when_asked


def citation(document: str, date: str | None, score: float) -> Citation:
    return Citation(
        document=document,
        title=document,
        url=None,
        date=date,
        passage="p",
        passage_start=0,
        sentence="p",
        start=0,
        end=1,
        score=score,
    )


BY_SCORE = (
    citation("old", "2019-05-01", 0.9),
    citation("undated", None, 0.8),
    citation("new", "2024-03-02", 0.7),
    citation("newer-same-day", "2024-03-02T18:00:00Z", 0.6),
    citation("middle", "2021-11-30", 0.5),
)


@pytest.mark.parametrize(
    "question",
    [
        "What is the latest on the strike?",
        "who is the current mayor",
        "Where do the talks stand now?",
        "what happened this week in Libya",
        "Is the bridge currently closed?",
        "any recent news about the election?",
    ],
)
def test_questions_about_the_latest_put_the_newest_first(question: str) -> None:
    assert asks_for_latest(question)
    ordered = newest_first_when_asked(question, BY_SCORE)
    assert [c.document for c in ordered] == ["new", "newer-same-day", "middle", "old", "undated"]


@pytest.mark.parametrize(
    "question", ["Who denied the Wagner claims?", "What did the company know?", "how many snowmen were built"]
)
def test_other_questions_keep_the_score_order(question: str) -> None:
    assert not asks_for_latest(question)
    assert newest_first_when_asked(question, BY_SCORE) == BY_SCORE


def test_nothing_to_order() -> None:
    assert newest_first_when_asked("latest news", ()) == ()
