"""What the terminal and Discord renderers share: citations grouped by the article they quote."""

from __future__ import annotations

from dataclasses import dataclass

from bot.models import Answer, Citation

UNDATED = "undated"


def by_article(citations: tuple[Citation, ...]) -> tuple[tuple[Citation, ...], ...]:
    """The citations grouped by article, articles in the order of their first citation, so several
    quotes from one article sit under one title."""
    groups: dict[str, list[Citation]] = {}
    for citation in citations:
        groups.setdefault(citation.document, []).append(citation)
    return tuple(tuple(group) for group in groups.values())


def headline(answer: Answer) -> str | None:
    """What a reply opens with when the reader found the answer words in the first citation:
    the words, then how many articles are quoted ("Russia — 3 sources")."""
    if not answer.answered or not answer.citations or answer.citations[0].answer is None:
        return None
    articles = len(by_article(answer.citations))
    return f"{' '.join(answer.citations[0].answer.text.split())} — {articles} source{'s' if articles != 1 else ''}"


@dataclass(frozen=True)
class Marked:
    """A text cut in three around what a reply marks: ``before + marked + after`` is the text."""

    before: str
    marked: str
    after: str


def sentence_in_passage(citation: Citation) -> Marked:
    """The passage around its answering sentence; whitespace at the sentence's ends falls outside the mark."""
    sentence = citation.sentence
    lead = len(sentence) - len(sentence.lstrip())
    start = citation.start - citation.passage_start + lead
    end = start + len(sentence.strip())
    passage = citation.passage
    return Marked(passage[:start], passage[start:end], passage[end:])


def answer_in_sentence(citation: Citation) -> Marked | None:
    """The marked sentence (as ``sentence_in_passage`` marks it) around its answer words, if the reader found any."""
    if citation.answer is None:
        return None
    sentence = citation.sentence.strip()
    start = citation.start + len(citation.sentence) - len(citation.sentence.lstrip())
    first = min(max(citation.answer.start - start, 0), len(sentence))
    last = min(max(citation.answer.end - start, first), len(sentence))
    return Marked(sentence[:first], sentence[first:last], sentence[last:])
