"""The records that cross module borders.

Offsets are the contract: every ``start``/``end`` indexes the clean text of its article, and
``article.text[start:end] == text`` always holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class RetrievalMode(Enum):
    """Which retrievers rank the passages; HYBRID fuses both."""

    HYBRID = "hybrid"
    DENSE = "dense"
    LEXICAL = "lexical"


@dataclass(frozen=True)
class Metadata:
    """What a file says about its article (front matter, HTML meta tags, PDF info); all optional."""

    title: str | None = None
    url: str | None = None
    date: str | None = None
    author: str | None = None


@dataclass(frozen=True)
class Article:
    id: str
    document: str
    title: str
    text: str
    url: str | None = None
    date: str | None = None
    author: str | None = None


@dataclass(frozen=True)
class Span:
    """A run of an article's clean text (answer words, a paragraph): ``text`` lies at ``start:end``."""

    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Sentence(Span):
    """A sentence of an article's clean text: the unit citebot quotes and marks."""


@dataclass(frozen=True)
class Chunk:
    """A passage: neighbouring sentences of one paragraph, the unit of lexical retrieval."""

    start: int
    end: int
    text: str
    sentences: tuple[Sentence, ...]


@dataclass(frozen=True)
class IndexedArticle:
    """An article as the store knows it, without its chunks."""

    id: str
    document: str
    title: str
    url: str | None
    date: str | None
    author: str | None
    text: str
    passages: int


@dataclass(frozen=True)
class Passage:
    """A read passage: the sentence of it that best answers the question, how surely (``score``, a
    calibrated probability), and the answer words inside that sentence when the reader found them."""

    chunk_id: int
    article: IndexedArticle
    start: int
    end: int
    text: str
    score: float
    sentence: Sentence
    answer: Span | None = None
    answer_confidence: float = 0.0
    """How sure the reader's span head is of exactly these answer words."""


@dataclass(frozen=True)
class Citation:
    document: str
    title: str
    url: str | None
    date: str | None
    passage: str
    passage_start: int
    sentence: str
    start: int
    end: int
    score: float
    also_in: tuple[str, ...] = ()
    answer: Span | None = None


@dataclass(frozen=True)
class IndexInfo:
    """What an index holds and how it was built."""

    model: str
    dimension: int
    chunking: str
    built_at: str
    articles: int
    passages: int
    sentences: int


@dataclass(frozen=True)
class Answer:
    question: str
    answered: bool
    citations: tuple[Citation, ...] = ()
    more: tuple[Citation, ...] = field(default=(), compare=False)
    confidence: float = field(default=0.0, compare=False)  # the best sentence's score, also when abstaining


@dataclass(frozen=True)
class Vote:
    """One person's vote on an answer, as the feedback store keeps it (the person only as a hash)."""

    question: str
    citations: str
    user_hash: str
    vote: int
    created_at: str
