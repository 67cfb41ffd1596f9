"""Strip page chrome and link markers from scraped text by general rules: text is only ever cut out,
never rewritten, so every kept character is the file's own, in its order."""

from __future__ import annotations

import re
from dataclasses import replace

from bot.models import Article

PARAGRAPH_SEPARATOR = "\n\n"
TITLE_LIMIT = 120

LINK_MARKER = re.compile(
    r"[ \t]*[(\[](?:links?|video|photos?|audio|source|here|pdf|read more|watch|listen|more)[)\]]",
    re.IGNORECASE,
)
MARKDOWN_IMAGE = re.compile(r"!\[[^\]\n]*\]\([^)\n]*\)")
MARKDOWN_LINK = re.compile(r"(\[)[^\]\n]+(\]\([^)\n]*\))")
HEADING = re.compile(r"#{1,6}[ \t]+")
SENTENCE_END = tuple(".!?…\"”’'»)")
WRAPPED_LINE_MIN = 40
CHROME_MAX_WORDS = 4
URL_ONLY = re.compile(r"(?:https?://|www\.)\S+")
LABEL = re.compile(r"[^a-z]{2,80}:")

Piece = tuple[int, int]
"""A kept run of the raw text, as ``(start, end)`` offsets into it (internal to cleaning)."""


def clean(article: Article) -> Article:
    """The article with chrome paragraphs and link markers removed, paragraphs joined by blank lines."""
    paragraphs = [
        pieces
        for pieces, heading in _paragraph_pieces(article.text, article.title)
        if pieces and (heading or not is_chrome(_join(article.text, pieces)))
    ]
    text = PARAGRAPH_SEPARATOR.join(_join(article.text, pieces) for pieces in paragraphs)
    title = article.title or _title_from(text) or article.document.rsplit("/", 1)[-1]
    return replace(article, text=text, title=title)


def is_chrome(paragraph: str) -> bool:
    """Navigation, buttons and section labels: short lines that are not sentences."""
    stripped = paragraph.strip()
    if not stripped or URL_ONLY.fullmatch(stripped):
        return True
    words = stripped.split()
    if LABEL.fullmatch(stripped) and len(words) <= 8:
        return True
    return len(words) <= CHROME_MAX_WORDS and not stripped.endswith(SENTENCE_END)


def _paragraph_pieces(text: str, title: str = "") -> list[tuple[list[Piece], bool]]:
    """Each paragraph as spans of ``text`` (markers cut out, whitespace trimmed), and whether it is
    a heading (kept even when short): a Markdown heading, or a line that repeats the article's title.

    A line is a paragraph of its own unless it looks hard-wrapped: long, and not ending a sentence.
    A headline is never glued to the sentence after it.
    """
    paragraphs: list[tuple[list[Piece], bool]] = []
    headline = " ".join(title.split()).casefold()
    current: list[Piece] = []
    for line_start, line_end in _lines(text):
        line = text[line_start:line_end]
        heading = HEADING.match(line)
        if heading or (headline and " ".join(line.split()).casefold() == headline):
            if current:
                paragraphs.append((_merge(current), False))
                current = []
            paragraphs.append((_strip_markers(text, line_start + (heading.end() if heading else 0), line_end), True))
            continue
        pieces = _strip_markers(text, line_start, line_end)
        if not pieces:
            if current:
                paragraphs.append((_merge(current), False))
                current = []
            continue
        if current:
            current.append((line_start - 1, line_start))
        current.extend(pieces)
        joined = _join(text, pieces)
        if len(joined) < WRAPPED_LINE_MIN or joined.endswith(SENTENCE_END) or joined.endswith(":"):
            paragraphs.append((_merge(current), False))
            current = []
    if current:
        paragraphs.append((_merge(current), False))
    return paragraphs


def _lines(text: str) -> list[Piece]:
    spans = []
    start = 0
    for match in re.finditer(r"\n", text):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    return spans


def _strip_markers(text: str, start: int, end: int) -> list[Piece]:
    """The spans of one line that remain once link markers and markdown link syntax are cut out."""
    cuts: list[Piece] = []
    line = text[start:end]
    for pattern in (MARKDOWN_IMAGE, LINK_MARKER):
        cuts.extend((start + m.start(), start + m.end()) for m in pattern.finditer(line))
    for m in MARKDOWN_LINK.finditer(line):
        cuts.append((start + m.start(1), start + m.end(1)))
        cuts.append((start + m.start(2), start + m.end(2)))
    spans: list[Piece] = []
    position = start
    for cut_start, cut_end in sorted(cuts):
        if cut_start > position:
            spans.append((position, cut_start))
        position = max(position, cut_end)
    if position < end:
        spans.append((position, end))
    return _trim(text, spans)


def _trim(text: str, spans: list[Piece]) -> list[Piece]:
    """Drop leading and trailing whitespace of the run the spans make up."""
    spans = [(a, b) for a, b in spans if b > a]
    while spans:
        a, b = spans[0]
        a += len(text[a:b]) - len(text[a:b].lstrip())
        if a < b:
            spans[0] = (a, b)
            break
        spans.pop(0)
    while spans:
        a, b = spans[-1]
        b -= len(text[a:b]) - len(text[a:b].rstrip())
        if a < b:
            spans[-1] = (a, b)
            break
        spans.pop()
    return spans


def _merge(spans: list[Piece]) -> list[Piece]:
    merged: list[Piece] = []
    for start, end in spans:
        if merged and merged[-1][1] == start:
            merged[-1] = (merged[-1][0], end)
        elif end > start:
            merged.append((start, end))
    return merged


def _join(text: str, spans: list[Piece]) -> str:
    return "".join(text[a:b] for a, b in spans)


def _title_from(text: str) -> str:
    """The first sentence of the first paragraph, shortened at a word boundary."""
    first = text.split(PARAGRAPH_SEPARATOR, 1)[0].strip()
    match = re.search(r"(?<=[.!?])\s", first)
    title = first[: match.start()] if match else first
    if len(title) > TITLE_LIMIT:
        title = title[:TITLE_LIMIT].rsplit(" ", 1)[0].rstrip(",;:") + "…"
    return title
