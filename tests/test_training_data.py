"""The reader's training data keeps its rules: what it teaches as an answer holds the gold words, what it
teaches as "does not answer" never holds them, and the held-out articles never reach it."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

from bot.read.encoding import load_tokenizer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from training.data import (  # noqa: E402
    BENCH,
    NO_ANSWER,
    load_squad,
    paragraph_pairs,
    squad_questions,
    train_pairs,
    with_elsewhere,
    with_lookalikes,
    without_titles,
)

TOKENIZER = load_tokenizer(ROOT / "bot" / "read" / "model" / "tokenizer.json")


def qa(question: str, answer: str, context: str) -> dict[str, object]:
    return {"id": question, "question": question, "answers": [{"text": answer, "answer_start": context.index(answer)}]}


CRANE = "A crane fell on the Grand Mosque in Mecca. At least 107 people were killed. The Hajj went ahead."
STAMPEDE = (
    "A stampede at Mina killed pilgrims during the Hajj. Officials counted 2,400 people killed in Mecca. "
    "The 107 people killed by the crane in Mecca were mourned again."
)
ARTICLE = {
    "title": "Mecca",
    "paragraphs": [
        {"context": CRANE, "qas": [qa("How many people were killed by the crane in Mecca?", "107", CRANE)]},
        {"context": STAMPEDE, "qas": [qa("Where did the stampede happen?", "Mina", STAMPEDE)]},
    ],
}


def decoded(ids: tuple[int, ...], span: tuple[int, int]) -> str:
    return TOKENIZER.decode(list(ids[span[0] : span[1] + 1]))


def test_a_question_knows_the_sentence_and_words_of_its_answer() -> None:
    [crane, _] = squad_questions(ARTICLE)
    [(sentence, start, end)] = crane.answers
    assert crane.sentences[sentence][start:end] == "107"
    assert crane.answerable


def test_the_other_paragraph_negative_is_on_topic_but_never_holds_the_answer() -> None:
    [crane, stampede] = squad_questions(ARTICLE)
    [other] = crane.others
    assert other.sentence == "Officials counted 2,400 people killed in Mecca."  # the closer one holds "107"
    assert all("Mina" not in candidate.sentence for candidate in stampede.others)


SOCCER = (
    "Sweden beat South Korea 1-0 in Nizhny Novgorod. Andreas Granqvist scored the penalty. "
    "Two people were killed in crowd trouble after the match."
)
OTHER_ARTICLE = {
    "title": "2018_World_Cup",
    "paragraphs": [{"context": SOCCER, "qas": [qa("Who scored the penalty?", "Andreas Granqvist", SOCCER)]}],
}


def test_every_candidate_is_read_with_its_articles_title() -> None:
    [crane, _] = squad_questions(ARTICLE)
    [soccer] = squad_questions(OTHER_ARTICLE)
    assert crane.title == "Mecca" and soccer.title == "2018 World Cup"
    assert all(other.title == "Mecca" for other in crane.others)
    pair = train_pairs(TOKENIZER, crane, "paragraph")[0]
    assert TOKENIZER.decode(list(pair.ids)).startswith("how many people were killed by the crane in mecca? mecca")


def test_the_title_lookalike_is_read_under_another_title_sharing_the_questions_words() -> None:
    iodine = {
        "title": "Mecca_pilgrims_lack_iodine",
        "paragraphs": [{"context": "Pilgrims were short of iodine. Salt should be iodised, a doctor said.", "qas": []}],
    }
    [crane, _] = with_lookalikes(squad_questions(ARTICLE), [ARTICLE, OTHER_ARTICLE, iodine])
    [lookalike] = crane.lookalike
    assert (
        lookalike.title == "Mecca pilgrims lack iodine"
    )  # shares "Mecca" with the question; the sentence does not answer
    positive, negative = sorted(train_pairs(TOKENIZER, crane, "title"), key=lambda pair: -pair.label)
    assert decoded(positive.ids, positive.span) == "107"
    assert (negative.label, negative.span) == (0.0, NO_ANSWER)


def test_a_reader_of_before_titles_is_rebuilt_without_them() -> None:
    [crane, _] = with_elsewhere(squad_questions(ARTICLE), [ARTICLE, OTHER_ARTICLE])
    untitled = without_titles(crane)
    assert {c.title for c in (*untitled.others, *untitled.elsewhere)} == {""} and untitled.title == ""
    pair = train_pairs(TOKENIZER, untitled, "paragraph")[0]
    assert TOKENIZER.decode(list(pair.ids)).startswith("how many people were killed by the crane in mecca? a crane")


def test_the_elsewhere_negative_is_another_articles_sentence_sharing_the_question_words() -> None:
    questions = squad_questions(ARTICLE) + squad_questions(OTHER_ARTICLE)
    crane, _, soccer = with_elsewhere(questions, [ARTICLE, OTHER_ARTICLE])
    [other] = crane.elsewhere
    assert other.title == "2018 World Cup" and "killed" in other.sentence
    assert soccer.elsewhere == ()  # no sentence about Mecca shares "scored" or "penalty"
    positive, negative = sorted(train_pairs(TOKENIZER, crane, "elsewhere"), key=lambda pair: -pair.label)
    assert decoded(positive.ids, positive.span) == "107"
    assert (negative.label, negative.span) == (0.0, NO_ANSWER)


def test_the_elsewhere_negative_never_holds_the_answer() -> None:
    echo = {
        "title": "Echo",
        "paragraphs": [{"context": "The crane in Mecca killed 107 people, the echo says.", "qas": []}],
    }
    [crane, _] = with_elsewhere(squad_questions(ARTICLE), [ARTICLE, echo])
    assert crane.elsewhere == ()  # the echo's one sentence holds "107"; the question's own article never counts


@pytest.mark.parametrize("kind", ["paragraph", "article"])
def test_train_pairs_teach_the_answer_words_and_no_answer_for_the_negative(kind: str) -> None:
    [crane, _] = squad_questions(ARTICLE)
    positive, negative = sorted(train_pairs(TOKENIZER, crane, kind), key=lambda pair: -pair.label)
    assert (positive.label, negative.label) == (1.0, 0.0)
    assert decoded(positive.ids, positive.span) == "107"
    assert negative.span == NO_ANSWER


def test_the_dev_recipe_reads_every_answering_sentence_and_is_deterministic() -> None:
    questions = squad_questions(ARTICLE)
    first = [paragraph_pairs(TOKENIZER, q, random.Random(13), 2) for q in questions]
    again = [paragraph_pairs(TOKENIZER, q, random.Random(13), 2) for q in questions]
    assert first == again
    for question, pairs in zip(questions, first, strict=True):
        assert sum(pair.label for pair in pairs) == len({i for i, _, _ in question.answers})


@pytest.mark.skipif(not (BENCH / "dev-v2.0.json.gz").exists(), reason="../shared/bench is not beside the checkout")
def test_the_held_out_articles_never_reach_training_or_validation() -> None:
    articles, held_out, validation = load_squad()
    learned = {article["title"] for article in articles}
    assert held_out and not learned & held_out
    assert validation <= learned
