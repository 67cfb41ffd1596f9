"""Text and metadata out of HTML and PDF, with well-kept extractors (imported only when needed)."""

from __future__ import annotations

import io
import logging

log = logging.getLogger(__name__)


def html_text(html: str) -> tuple[str, dict[str, str]]:
    """The article text of a page and its title, url, date and author (from meta tags)."""
    import trafilatura

    document = trafilatura.bare_extraction(html, with_metadata=True, include_comments=False)
    if document is None:
        return "", {}
    text = document.text or ""
    metadata = {
        "title": document.title,
        "url": document.url,
        "date": document.date,
        "author": document.author,
    }
    return text, {key: str(value) for key, value in metadata.items() if value}


def pdf_text(raw: bytes) -> tuple[str, dict[str, str]]:
    """The text of a text PDF, pages separated by blank lines; scanned PDFs give no text."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    from bot.ingest.documents import UnreadableDocument

    try:
        reader = PdfReader(io.BytesIO(raw))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, TypeError) as error:
        raise UnreadableDocument(f"not a readable PDF ({error})") from None
    info = reader.metadata or {}
    metadata = {"title": info.get("/Title"), "author": info.get("/Author")}
    return "\n\n".join(page.strip() for page in pages if page.strip()), {
        key: str(value) for key, value in metadata.items() if value
    }
