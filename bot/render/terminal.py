"""Pure functions of an Answer: terminal text and JSON. (Discord lives in ``bot.render.chat``.)"""

from __future__ import annotations

import json
import re

from bot.models import Answer, Citation
from bot.render.grouping import UNDATED, answer_in_sentence, by_article, headline, sentence_in_passage
from bot.render.text import wrap

ABSTENTION = "The sources don't cover this."
BOLD = "\033[1;33m"
RESET = "\033[0m"
UNDERLINE, UNDERLINE_OFF = "\033[4m", "\033[24m"
PLAIN_MARK = "**"
PLAIN_ANSWER_MARK = "__"
# Escape sequences (OSC ... BEL or ST, CSI ..., other ESC x) first, then any C0/C1 control left but tab and newline.
TERMINAL_ESCAPES = re.compile(
    r"\x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?|\x9d[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?|\x1b[ -/]*[0-~]?|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
)


def printable(text: str) -> str:
    """Article text that cannot drive the terminal: no escape sequences, no control characters."""
    return TERMINAL_ESCAPES.sub("", text)


def render_answer_text(answer: Answer, color: bool = False, width: int = 100) -> str:
    """Each article once, numbered, with its date and address, then every quote taken from it."""
    if not answer.answered:
        return ABSTENTION
    groups = by_article(answer.citations)
    blocks = [_render_article(number, group, color, width) for number, group in enumerate(groups, 1)]
    opening = headline(answer)
    if opening is not None:
        blocks.insert(0, wrap(printable(opening), width))
    return "\n\n".join(blocks)


def _render_article(number: int, citations: tuple[Citation, ...], color: bool, width: int) -> str:
    first = citations[0]
    heading = printable(f"[{number}] {first.title}")
    details = " · ".join((first.date or UNDATED, first.url or first.document))
    if first.also_in:
        details += f" (also in {', '.join(first.also_in)})"
    quotes = "\n\n".join(_render_quote(citation, color, width) for citation in citations)
    return f"{wrap(heading, width, '', '    ')}\n{wrap(printable(details), width, '    ')}\n{quotes}"


def _render_quote(citation: Citation, color: bool, width: int) -> str:
    """The passage with the answering sentence bold, and the answer words in it underlined."""
    quote = sentence_in_passage(citation)
    open_mark, close_mark = (BOLD, RESET) if color else (PLAIN_MARK, PLAIN_MARK)
    words = answer_in_sentence(citation)
    if words is not None:
        open_words, close_words = (UNDERLINE, UNDERLINE_OFF) if color else (PLAIN_ANSWER_MARK, PLAIN_ANSWER_MARK)
        sentence = printable(words.before) + open_words + printable(words.marked) + close_words + printable(words.after)
    else:
        sentence = printable(quote.marked)
    marked = printable(quote.before) + open_mark + sentence + close_mark + printable(quote.after)
    return "\n".join(wrap(paragraph, width, "    ") for paragraph in marked.split("\n") if paragraph.strip())


def answer_record(answer: Answer) -> dict[str, object]:
    """The JSON contract of `citebot ask --json`; fields may be added, none removed."""
    return {
        "question": answer.question,
        "answered": answer.answered,
        "citations": [
            {
                "document": c.document,
                "title": c.title,
                "url": c.url,
                "date": c.date,
                "passage": c.passage,
                "sentence": c.sentence,
                "start": c.start,
                "end": c.end,
                "score": c.score,
                "passage_start": c.passage_start,
                "also_in": list(c.also_in),
                "answer": {"text": c.answer.text, "start": c.answer.start, "end": c.answer.end} if c.answer else None,
            }
            for c in answer.citations
        ],
    }


def render_json(answer: Answer) -> str:
    return json.dumps(answer_record(answer), ensure_ascii=False)


def render_json_error(question: str | None, message: str) -> str:
    """A line for a question that could not be asked, in the same shape plus an ``error`` (``question`` is
    None for an error before any question, such as a damaged index when questions come on stdin)."""
    return json.dumps({"question": question, "answered": False, "citations": [], "error": message}, ensure_ascii=False)
