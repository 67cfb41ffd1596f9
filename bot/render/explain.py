"""``--explain``: why an answer is what it is, from the engine's ``Trace`` of the question.

What retrieval found (the fused rank, and each retriever's), how every judged sentence scored (the
score that decides, the first cut's, and the reader's own probability and answer words where it read
the sentence), the threshold in force and which setting or file set it, and the one-line reason for
the outcome. Text for a person, a JSON object for tools; both are pure functions of the trace.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.render.terminal import answer_record, printable
from bot.render.text import plural, truncate, visible_width, wrap

if TYPE_CHECKING:
    from bot.engine import Trace
    from bot.read.stage import JudgedSentence
    from bot.read.thresholds import Thresholds
    from bot.retrieve.search import RetrievedPassage

SENTENCES_SHOWN = 12
"""The text lists this many judged sentences, best first; the JSON lists them all."""
MIN_QUOTE_COLUMNS = 20
MIN_ANSWER_COLUMNS = 8
JUDGES = {"reader": "the trained reader", "first_cut": "the linear first cut alone"}


@dataclass(frozen=True)
class Explained:
    """A trace with what it does not hold itself: the conversation it was read in, and who judged."""

    trace: Trace
    thresholds: Thresholds
    judge: str
    context: str | None = None


def outcome(explained: Explained) -> str:
    """The one-line reason: "answered: 0.62 ≥ 0.12" or "abstained: best 0.11 < 0.12, from crane.md"."""
    trace, threshold = explained.trace, explained.thresholds.answer
    best = trace.read[0] if trace.read else None
    if best is None:
        if trace.judged and trace.judged[0].first_cut < explained.thresholds.relevance:
            return (
                f"abstained: off-topic, the first cut's best {trace.judged[0].first_cut:.2f} < relevance "
                f"{explained.thresholds.relevance:.2f}, so nothing was read"
            )
        found = "no passage was found" if not trace.retrieved else "no sentence of the passages found could be judged"
        return f"abstained: {found}"
    if trace.answer.answered:
        return f"answered: {best.score:.2f} ≥ {threshold:.2f}"
    if best.score >= threshold:
        return f"abstained: best {best.score:.2f} ≥ {threshold:.2f}, but no citation of it could be proved verbatim"
    return f"abstained: best {best.score:.2f} < {threshold:.2f}, from {best.article.document}"


def render_explain_text(explained: Explained, width: int = 100) -> str:
    """The trace for a person: outcome, threshold, passages and sentences, one line each."""
    trace, thresholds = explained.trace, explained.thresholds
    documents = _documents(trace.retrieved)
    lines = [f"Why: {outcome(explained)}"]
    if explained.context:
        lines.append(wrap(f"Read as a follow-up of: {printable(explained.context)}", width, "", "    "))
    words = ""
    if explained.judge == "reader":
        words = f"; answer words need a span confidence of {thresholds.answer_words:g}"
    threshold = (
        f"Threshold: {thresholds.answer:g}, from {thresholds.source}. A further citation needs "
        f"{thresholds.support:g}{words}. Judged by {JUDGES.get(explained.judge, explained.judge)}."
    )
    lines.append(wrap(threshold, width, "", "    "))
    lines.append(f"\nPassages retrieved ({len(trace.retrieved)}), by fused rank:")
    lines.append("    rank  dense  lexical  article")
    for passage in trace.retrieved:
        lines.append(
            f"    {passage.rank + 1:>4}  {_rank(passage.dense_rank):>5}  {_rank(passage.lexical_rank):>7}  "
            f"{printable(passage.article.document)}"
        )
    judged = trace.judged
    lines.append(f"\nSentences judged ({len(judged)}), best first:")
    lines.append("    score  first cut  reader  article: sentence")
    for sentence in judged[:SENTENCES_SHOWN]:
        lines.append(_sentence_line(sentence, documents, width))
    if len(judged) > SENTENCES_SHOWN:
        lines.append(f"    … and {plural(len(judged) - SENTENCES_SHOWN, 'more sentence')} (--json lists them all)")
    return "\n".join(lines)


def explain_record(explained: Explained) -> dict[str, object]:
    """The JSON of `citebot ask --explain --json`: the answer's fields, plus ``explain``."""
    trace, thresholds = explained.trace, explained.thresholds
    documents = _documents(trace.retrieved)
    return {
        **answer_record(trace.answer),
        "explain": {
            "outcome": outcome(explained),
            "context": explained.context,
            "judge": explained.judge,
            "threshold": {
                "answer": thresholds.answer,
                "support": thresholds.support,
                "answer_words": thresholds.answer_words,
                "relevance": thresholds.relevance,
                "source": thresholds.source,
            },
            "retrieved": [
                {
                    "rank": passage.rank + 1,
                    "dense_rank": passage.dense_rank,
                    "lexical_rank": passage.lexical_rank,
                    "document": passage.article.document,
                    "title": passage.article.title,
                    "start": passage.start,
                    "end": passage.end,
                    "passage": passage.text,
                }
                for passage in trace.retrieved
            ],
            "sentences": [
                {
                    "document": documents.get(sentence.chunk_id),
                    "sentence": sentence.sentence.text,
                    "start": sentence.sentence.start,
                    "end": sentence.sentence.end,
                    "first_cut": round(sentence.first_cut, 4),
                    "probability": None if sentence.probability is None else round(sentence.probability, 4),
                    "reader": None if sentence.reader is None else round(sentence.reader, 4),
                    "answer": (
                        {"text": sentence.answer.text, "start": sentence.answer.start, "end": sentence.answer.end}
                        if sentence.answer
                        else None
                    ),
                    "answer_confidence": round(sentence.answer_confidence, 4),
                }
                for sentence in trace.judged
            ],
        },
    }


def render_explain_json(explained: Explained) -> str:
    return json.dumps(explain_record(explained), ensure_ascii=False)


def log_lines(explained: Explained, seconds: float) -> tuple[str, ...]:
    """What ``citebot -v`` logs of one question."""
    trace = explained.trace
    read = sum(sentence.probability is not None for sentence in trace.judged)
    return (
        f"Retrieved {plural(len(trace.retrieved), 'passage')}",
        f"Judged {plural(len(trace.judged), 'sentence')} ({read} read by the reader)",
        f"Threshold {explained.thresholds.answer:g} from {explained.thresholds.source}",
        f"{outcome(explained).capitalize()} ({seconds * 1000:.0f} ms in all)",
    )


def _sentence_line(sentence: JudgedSentence, documents: dict[int, str], width: int) -> str:
    """One line: the score that decides, the first cut's, the reader's, then as much of the sentence (and
    of its answer words) as fits the width."""
    reader = "-" if sentence.reader is None else f"{sentence.reader:.3f}"
    document = printable(documents.get(sentence.chunk_id, "?"))
    prefix = f"    {sentence.score:.3f}  {sentence.first_cut:>9.3f}  {reader:>6}  {document}: "
    room = width - visible_width(prefix)
    words = ""
    if sentence.answer:
        answer = " ".join(printable(sentence.answer.text).split())
        words = f" [answer: {truncate(answer, max(room // 2 - len(' [answer: ]'), MIN_ANSWER_COLUMNS))}]"
    quote = " ".join(printable(sentence.sentence.text).split())
    return truncate(f"{prefix}{truncate(quote, max(room - visible_width(words), MIN_QUOTE_COLUMNS))}{words}", width)


def _documents(retrieved: tuple[RetrievedPassage, ...]) -> dict[int, str]:
    return {passage.chunk_id: passage.article.document for passage in retrieved}


def _rank(rank: int | None) -> str:
    return "-" if rank is None else str(rank)
