"""What the terminal and Discord renderers share: citations grouped by the article they quote."""

from __future__ import annotations

from bot.models import Citation

UNDATED = "undated"


def by_article(citations: tuple[Citation, ...]) -> tuple[tuple[Citation, ...], ...]:
    """The citations grouped by article, articles in the order of their first citation, so several
    quotes from one article sit under one title."""
    groups: dict[str, list[Citation]] = {}
    for citation in citations:
        groups.setdefault(citation.document, []).append(citation)
    return tuple(tuple(group) for group in groups.values())
