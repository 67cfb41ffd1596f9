"""The swapped twin of a training question is a question a person could ask that its sentence no longer
answers: one name or number of the question exchanged for an alike one of the same article, which the
answering sentence does not hold."""

from __future__ import annotations

import math
import random
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bot.read.encoding import load_tokenizer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from training.data import NO_ANSWER, squad_questions, train_pairs  # noqa: E402
from training.swaps import Swapper, names_and_numbers, question_terms, with_swaps  # noqa: E402

TOKENIZER = load_tokenizer(ROOT / "bot" / "read" / "model" / "tokenizer.json")

HIGHBURY = "Arsenal moved to Highbury in 1913. The club won the Premier League in 1998."
EMIRATES = (
    "Arsenal later moved to the Emirates Stadium in 2006, which holds 60,000 fans. "
    "A statue of Herbert Chapman stands there, far from the Midlands."
)


def qa(question: str, answer: str, context: str) -> dict[str, object]:
    return {"id": question, "question": question, "answers": [{"text": answer, "answer_start": context.index(answer)}]}


ARTICLE = {
    "title": "Arsenal",
    "paragraphs": [
        {
            "context": HIGHBURY,
            "qas": [
                qa("When did Arsenal move to Highbury?", "1913", HIGHBURY),
                qa("Where did the club move in 1913?", "Highbury", HIGHBURY),
            ],
        },
        {"context": EMIRATES, "qas": []},
    ],
}
POOL = sorted(names_and_numbers(HIGHBURY) | names_and_numbers(EMIRATES))

ANGLES = {
    "Arsenal": 0,
    "Highbury": 180,
    "Emirates Stadium": 240,
    "Premier League": 270,
    "Herbert Chapman": 300,
    "Midlands": 10,  # the same thing as "Arsenal" in other words, to the embedder
    "1913": 90,
    "60,000": 92,  # the most alike number, but not a year
    "1998": 140,
    "2006": 170,
}
"""Terms placed on a circle: the cosine of two terms is that of the angle between them."""
VECTORS = {term: np.array([math.cos(math.radians(a)), math.sin(math.radians(a))]) for term, a in ANGLES.items()}


def twins(question_index: int, seeds: int = 20) -> set[str]:
    question = squad_questions(ARTICLE)[question_index]
    swapper = Swapper(VECTORS)
    return {swapper.swapped(question, POOL, random.Random(seed)) for seed in range(seeds)}


def test_the_pool_is_the_articles_names_and_numbers_not_its_sentences_first_words() -> None:
    assert set(POOL) == set(ANGLES) - {"Arsenal"}
    assert question_terms("When did Arsenal move to Highbury?") == ["Arsenal", "Highbury"]


def test_a_twin_swaps_one_term_for_an_alike_one_the_answering_sentence_does_not_hold() -> None:
    assert twins(0) == {
        "When did Arsenal move to Emirates Stadium?",
        "When did Arsenal move to Premier League?",
        "When did Arsenal move to Herbert Chapman?",
        "When did Emirates Stadium move to Highbury?",
        "When did Premier League move to Highbury?",
        "When did Herbert Chapman move to Highbury?",
    }  # never "Midlands", too alike to "Arsenal" to be another thing


def test_a_year_is_swapped_for_another_year_only() -> None:
    assert twins(1) == {"Where did the club move in 1998?", "Where did the club move in 2006?"}


def test_a_question_with_nothing_to_swap_has_no_twin() -> None:
    question = squad_questions(ARTICLE)[1]
    assert Swapper(VECTORS).swapped(question, ["60,000", "1913"], random.Random(0)) == ""


def test_the_twin_is_taught_as_no_answer_on_the_very_sentence_its_original_answers() -> None:
    [question, _] = squad_questions(ARTICLE)
    twin = Swapper(VECTORS).swapped(question, POOL, random.Random(0))
    positive, negative = train_pairs(TOKENIZER, replace(question, swapped=twin), "swap")
    assert (positive.label, negative.label) == (1.0, 0.0)
    assert TOKENIZER.decode(list(positive.ids[positive.span[0] : positive.span[1] + 1])) == "1913"
    assert negative.span == NO_ANSWER
    original, swapped = (TOKENIZER.decode(list(pair.ids)) for pair in (positive, negative))
    assert swapped.startswith(twin.casefold())
    assert original.split("?", 1)[1] == swapped.split("?", 1)[1]  # the same sentence, read the same way


@pytest.mark.slow
def test_with_swaps_finds_twins_with_the_real_embedder() -> None:
    [highbury, _] = with_swaps(squad_questions(ARTICLE), [ARTICLE], seed=13)
    assert highbury.swapped and highbury.swapped != highbury.text
