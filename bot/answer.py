"""Passages to an Answer: the answering sentences, each proved verbatim, or an honest abstention."""

from __future__ import annotations

import logging
from dataclasses import replace

from bot.models import Answer, Citation, Passage
from bot.read.thresholds import Thresholds
from bot.recency import newest_first_when_asked

log = logging.getLogger(__name__)

CITATIONS = 3


def answer(question: str, passages: tuple[Passage, ...], thresholds: Thresholds) -> Answer:
    """Answer when the best passage's sentence reaches ``thresholds.answer``; cite it first, then the
    others that reach ``thresholds.support`` on their own, best first.

    Citations quoting the same sentence (syndicated copies) collapse into one that names the others.
    The first three are the answer; the next three are kept for "more sources". Answer words stay
    only where the span is sure (``thresholds.answer_words``).
    """
    confidence = round(max((passage.score for passage in passages), default=0.0), 4)
    if not passages or passages[0].score < thresholds.answer:
        return Answer(question=question, answered=False, confidence=confidence)
    citations: list[Citation] = []
    seen: dict[str, int] = {}
    for passage in passages:
        if citations and passage.score < thresholds.support:
            continue
        citation = cite(passage, thresholds.answer_words)
        if citation is None:
            continue
        key = fold_case_and_space(citation.sentence)
        if key in seen:
            first = citations[seen[key]]
            if citation.document not in first.also_in and citation.document != first.document:
                citations[seen[key]] = _also_in(first, citation.document)
            continue
        seen[key] = len(citations)
        citations.append(citation)
    citations = list(newest_first_when_asked(question, tuple(citations)))
    return Answer(
        question=question,
        answered=bool(citations),
        citations=tuple(citations[:CITATIONS]),
        more=tuple(citations[CITATIONS : 2 * CITATIONS]),
        confidence=confidence,
    )


def cite(passage: Passage, sure_words: float = 0.0) -> Citation | None:
    """A citation whose sentence is proved to be an exact substring of its passage and article, and
    whose answer words, when there are any and their span confidence reaches ``sure_words``, an exact
    substring of the sentence."""
    sentence, answer_words, text = passage.sentence, passage.answer, passage.article.text
    if passage.answer_confidence < sure_words:
        answer_words = None
    inside = sentence.start - passage.start
    if (
        text[sentence.start : sentence.end] != sentence.text
        or text[passage.start : passage.end] != passage.text
        or passage.text[inside : inside + len(sentence.text)] != sentence.text
    ):
        log.error("Dropped a citation of %s that is not verbatim", passage.article.document)
        return None
    if answer_words is not None and (
        text[answer_words.start : answer_words.end] != answer_words.text
        or not sentence.start <= answer_words.start < answer_words.end <= sentence.end
    ):
        log.error("Dropped answer words of %s that are not verbatim", passage.article.document)
        answer_words = None
    return Citation(
        document=passage.article.document,
        title=passage.article.title,
        url=passage.article.url,
        date=passage.article.date,
        passage=passage.text,
        passage_start=passage.start,
        sentence=sentence.text,
        start=sentence.start,
        end=sentence.end,
        score=round(passage.score, 4),
        answer=answer_words,
    )


def fold_case_and_space(text: str) -> str:
    """Case folded and whitespace runs made one space, so copies of one sentence compare equal (here,
    and wherever the evaluation compares quotes with evidence)."""
    return " ".join(text.casefold().split())


def _also_in(citation: Citation, document: str) -> Citation:
    return replace(citation, also_in=(*citation.also_in, document))
