"""Swapped questions: the reader's "on topic, it names the same things, but it does not answer" negatives.

A question's answering sentence holds some of the question's names and numbers. Swap one of them for
another name or number of the same article that the sentence does not hold, and the sentence no longer
answers: "When did Beyoncé release Dangerously in Love?" becomes "When did Beyoncé release B'Day?", and
"Dangerously in Love was released in June 2003" must now be judged not an answer. SQuAD 2.0's
unanswerable questions were written this way (an entity or number swapped, a negation added), and so are
the near-topic questions users ask ("Who won the 2018 FIFA World Cup final?" against a report of a group
match). The twin is read against the very sentence its original is taught to answer, so the pair differs
only in the swapped words.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from training.data import STOP, Question

NUMBER = re.compile(r"\b\d[\d,.]*\b")
NAME = re.compile(r"[A-Z][\w'’-]*(?: (?:of |de |the |and )?[A-Z][\w'’-]*)*")
MID_SENTENCE_NAME = re.compile(r"(?<=[a-z,;:] )" + NAME.pattern)
"""A run of capitalised words after a lower-case word: a name, not a sentence's first word."""


def names_and_numbers(text: str) -> set[str]:
    """The names (capitalised runs inside a sentence) and numbers of ``text``."""
    names = {m.group() for m in MID_SENTENCE_NAME.finditer(text) if m.group().casefold() not in STOP}
    return names | {m.group().rstrip(".,") for m in NUMBER.finditer(text)}


def question_terms(question: str) -> list[str]:
    """The names and numbers of a question (its first word is a question word, so any name counts)."""
    names = [m.group() for m in NAME.finditer(question) if m.start() and m.group().casefold() not in STOP]
    return names + [m.group().rstrip(".,") for m in NUMBER.finditer(question)]


def is_number(term: str) -> bool:
    return bool(NUMBER.fullmatch(term))


YEAR = re.compile(r"1\d{3}|20\d{2}")


def same_kind(term: str, other: str) -> bool:
    """Numbers swap with numbers (years with years), names with names."""
    if is_number(term) or is_number(other):
        return is_number(term) and is_number(other) and bool(YEAR.fullmatch(term)) == bool(YEAR.fullmatch(other))
    return True


def stems(term: str) -> set[str]:
    """The first four letters of each word: "French" and "Frenchmen", "Germans" and "Nazi Germany" share one."""
    return {word[:4] for word in re.findall(r"\w+", term.casefold())}


class Swapper:
    """Swaps a question's term for the most alike term of its article: alike by the sentence embedder's
    cosine (a league for a league, a person for a person), so that the twin reads as a question a person
    could ask, not as nonsense that is easy to refuse. Too alike (cosine above ``SAME``) is likely the same
    thing in other words ("Dashnaks", "Armenian Revolutionary Federation") and is passed over."""

    SAME = 0.7

    def __init__(self, vectors: Mapping[str, np.ndarray]) -> None:
        self.vectors = vectors

    @classmethod
    def embedded(cls, terms: set[str]) -> Swapper:
        """A swapper whose terms the sentence embedder placed (unit vectors)."""
        from bot.embed.encoder import SentenceTransformerEmbedder

        ordered = sorted(terms)
        vectors = SentenceTransformerEmbedder().embed(ordered)
        return cls({term: vectors[k] for k, term in enumerate(ordered)})

    def swapped(self, question: Question, pool: list[str], rng: random.Random) -> str:
        """The question with one term its answering sentence holds swapped for one of the three most alike
        terms of ``pool`` of the same kind that share no word stem with it and that the sentence does not
        hold; "" if there is none."""
        sentence = question.sentences[question.answers[0][0]]
        held = [t for t in question_terms(question.text) if t in sentence]
        rng.shuffle(held)
        for term in held:
            others = [
                other
                for other in pool
                if same_kind(term, other)
                and other not in sentence
                and other not in question.text
                and not stems(term) & stems(other)
            ]
            scored = sorted(
                (float(self.vectors[term] @ self.vectors[other]), other)
                for other in others
                if self.vectors[term] @ self.vectors[other] < self.SAME
            )
            if scored:
                return question.text.replace(term, rng.choice(scored[-3:])[1], 1)
        return ""


def with_swaps(questions: list[Question], articles: list[dict], seed: int) -> list[Question]:
    """Each answerable question with its swapped twin (``Question.swapped``) where it has one, drawing
    the new term from the names and numbers of the question's own article."""
    asked = {question.title for question in questions}
    pools = {
        title: sorted(set().union(*(names_and_numbers(p["context"]) for p in article["paragraphs"])))
        for article in articles
        if (title := article["title"].replace("_", " ")) in asked
    }
    terms = set().union(*pools.values(), *(question_terms(q.text) for q in questions))
    swapper = Swapper.embedded(terms)
    rng = random.Random(seed)
    return [
        replace(question, swapped=swapper.swapped(question, pools.get(question.title, []), rng))
        if question.answerable and question.answers
        else question
        for question in questions
    ]
