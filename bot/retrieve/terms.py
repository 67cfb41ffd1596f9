"""The words of questions and sentences as retrieval and reading compare them: case-folded, NFKC,
stopwords out, Snowball stems (cached: stemming in pure Python was 75 % of a question's time)."""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache
from itertools import pairwise

import snowballstemmer

MAX_QUERY_TERMS = 32

STOPWORDS = frozenset(
    """
    a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just me more most
    my myself no nor not now of off on once only or other our ours ourselves out over own same she
    should so some such than that the their theirs them themselves then there these they this those
    through to too under until up very was we were what when where which while who whom why will with
    would you your yours yourself yourselves said say says tell told
    """.split()
)
"""Words that carry no meaning for finding an answer: the one list, for whatever else needs one."""


_local = threading.local()


def _stemmer() -> snowballstemmer.stemmer:
    """One stemmer per thread: a snowball stemmer keeps state while it works."""
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = snowballstemmer.stemmer("english")
    return stemmer


def words(text: str) -> list[str]:
    return re.findall(r"\w+", unicodedata.normalize("NFKC", text).casefold())


def content_terms(text: str) -> tuple[str, ...]:
    """The words of a question that carry meaning, in order, without repeats."""
    return tuple(dict.fromkeys(w for w in words(text) if w not in STOPWORDS))[:MAX_QUERY_TERMS]


def word_pairs(text: str) -> frozenset[tuple[str, str]]:
    return frozenset(pairwise(stems(words(text))))


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """Words repeat across candidates and questions, and stemming in pure Python is slow: cache it."""
    return _stemmer().stemWord(word)


def stems(terms: tuple[str, ...] | list[str]) -> list[str]:
    return [stem(term) for term in terms]
