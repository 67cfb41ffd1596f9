"""The read stage: which sentence of each retrieved passage answers, how surely, and with which words.

The linear first cut scores every sentence; the reader reads the first cut's best few with their
neighbouring sentences and decides. Without a reader (the fast test tier) the first cut decides.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

import numpy as np

from bot.models import Passage, Span
from bot.read.features import Candidate, candidates
from bot.read.linear import LinearScorer
from bot.read.reader import ReaderCandidate, Reading
from bot.retrieve.search import Query, RetrievedPassage

READ_CANDIDATES = 6
THRESHOLDS_FILE = Path(__file__).with_name("thresholds.json")


class SentenceReader(Protocol):
    def read(self, question: str, candidates: list[ReaderCandidate]) -> list[Reading]: ...


def abstention_threshold(reader: SentenceReader | None) -> float:
    """The abstention threshold for whichever judges: the reader, or the first cut alone."""
    thresholds = json.loads(THRESHOLDS_FILE.read_text(encoding="utf-8"))
    return float(thresholds["first_cut" if reader is None else "reader"])


def read_passages(
    query: Query,
    passages: tuple[RetrievedPassage, ...],
    scorer: LinearScorer,
    reader: SentenceReader | None,
    read_candidates: int = READ_CANDIDATES,
) -> tuple[Passage, ...]:
    """Each passage with a judged sentence, best first: the reader's probability where it read one,
    else the first cut's. Passages of which the reader read nothing are left out when it read."""
    if not query.terms:
        return ()  # no word that carries meaning ("why?" outside a thread): nothing to look for
    found = candidates(query, passages)
    if not found:
        return ()
    first_cut = scorer.score(np.array([candidate.features for candidate in found]))
    if reader is None:
        judged = [(candidate, float(score), None) for candidate, score in zip(found, first_cut, strict=True)]
    else:
        chosen = [found[i] for i in np.argsort(-first_cut, kind="stable")[:read_candidates]]
        readings = reader.read(query.text, [_with_context(candidate) for candidate in chosen])  # with its thread
        judged = [
            (candidate, reading.probability, _answer_words(candidate, reading))
            for candidate, reading in zip(chosen, readings, strict=True)
        ]
    best: dict[int, tuple[Candidate, float, Span | None]] = {}
    for candidate, score, answer in judged:
        chunk_id = candidate.passage.chunk_id
        if chunk_id not in best or score > best[chunk_id][1]:
            best[chunk_id] = (candidate, score, answer)
    read = [
        Passage(
            chunk_id=chunk_id,
            article=candidate.passage.article,
            start=candidate.passage.start,
            end=candidate.passage.end,
            text=candidate.passage.text,
            score=score,
            sentence=candidate.sentence,
            answer=answer,
        )
        for chunk_id, (candidate, score, answer) in best.items()
    ]
    read.sort(key=lambda passage: (-passage.score, passage.chunk_id))
    return tuple(read)


def _with_context(candidate: Candidate) -> ReaderCandidate:
    sentences = candidate.passage.sentences
    position = candidate.position
    return ReaderCandidate(
        previous=sentences[position - 1].text if position > 0 else "",
        sentence=sentences[position].text,
        next=sentences[position + 1].text if position + 1 < len(sentences) else "",
    )


def _answer_words(candidate: Candidate, reading: Reading) -> Span | None:
    """The reader's answer words as article offsets; none when they are the whole sentence."""
    sentence = candidate.sentence
    if reading.answer_start is None or reading.answer_end is None:
        return None
    words = sentence.text[reading.answer_start : reading.answer_end]
    if not words.strip() or len(words) >= 0.9 * len(sentence.text.strip()):
        return None
    start = sentence.start + reading.answer_start
    return Span(start=start, end=start + len(words), text=words)
