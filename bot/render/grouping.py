"""What the terminal and Discord renderers share: citations grouped by the article they quote."""

from __future__ import annotations

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


def answer_in_sentence(citation: Citation) -> tuple[int, int] | None:
    """Where the answer words lie inside the quoted sentence, if the reader found any."""
    if citation.answer is None:
        return None
    return citation.answer.start - citation.start, citation.answer.end - citation.start
