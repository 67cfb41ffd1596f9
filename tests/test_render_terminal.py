"""The terminal renderer: every article shows its date, several quotes of one article share its title."""

from __future__ import annotations

from bot.models import Answer, Citation
from bot.render.terminal import render_answer_text


def quote(document: str, sentence: str, date: str | None, url: str | None = None) -> Citation:
    passage = f"Before. {sentence} After."
    return Citation(
        document=document,
        title=document.title(),
        url=url,
        date=date,
        passage=passage,
        passage_start=10,
        sentence=sentence,
        start=18,
        end=18 + len(sentence),
        score=0.9,
    )


def test_quotes_are_grouped_under_their_article_with_its_date() -> None:
    answer = Answer(
        "q",
        True,
        (
            quote("crane", "A storm caused a crane to fall.", "2015-09-12", "https://en.wikinews.org/wiki/Crane"),
            quote("stampede", "Over 345 pilgrims were killed.", None),
            quote("crane", "It killed 107 or more.", "2015-09-12", "https://en.wikinews.org/wiki/Crane"),
        ),
    )
    text = render_answer_text(answer)
    assert text.count("[1] Crane") == 1 and text.count("[2] Stampede") == 1 and "[3]" not in text
    crane, stampede = text.split("\n\n[2] ")
    assert crane.splitlines()[1] == "    2015-09-12 · https://en.wikinews.org/wiki/Crane"
    assert "**A storm caused a crane to fall.**" in crane and "**It killed 107 or more.**" in crane
    assert stampede.splitlines()[1] == "    undated · stampede"
