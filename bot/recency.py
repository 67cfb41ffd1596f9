"""News questions about the latest state want the newest article first.

"What is the latest on the strike?" is best answered by last week's article, not last year's, when both
answer it. Only such questions are reordered, and only by article date: among citations of one date (or
none) the order they came in, best score first, is kept.
"""

from __future__ import annotations

import re

from bot.models import Citation

RECENCY = re.compile(
    r"\b(?:latest|newest|recent|recently|most recent|now|nowadays|currently|current|today|"
    r"this (?:week|month|year)|so far|as of|still|update|updates)\b",
    re.IGNORECASE,
)
ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def asks_for_latest(question: str) -> bool:
    """Whether the question asks for the latest, recent or current state of things."""
    return RECENCY.search(question) is not None


def newest_first_when_asked(question: str, citations: tuple[Citation, ...]) -> tuple[Citation, ...]:
    """``citations`` newest article first when the question asks for the latest; as they are otherwise.

    Undated citations go after the dated ones; the sort is stable, so ties keep their score order."""
    if not asks_for_latest(question):
        return citations
    return tuple(sorted(citations, key=_age))


def _age(citation: Citation) -> tuple[int, int]:
    """A sort key, smallest for the newest: dated citations first (latest date first), then undated."""
    match = ISO_DATE.search(citation.date or "")
    if match is None:
        return (1, 0)
    year, month, day = match.groups()
    return (0, -int(year + month + day))
