"""Text and metadata out of HTML and PDF, with well-kept extractors (imported only when needed)."""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING

from bot.errors import UnreadableDocument
from bot.models import Metadata

if TYPE_CHECKING:
    from pypdf import PdfReader

log = logging.getLogger(__name__)


def html_text(html: str) -> tuple[str, Metadata]:
    """The article text of a page and its title, url, date and author (from meta tags)."""
    import trafilatura

    document = trafilatura.bare_extraction(html, with_metadata=True, include_comments=False)
    if document is None:
        return "", Metadata()
    metadata = Metadata(
        title=_text(document.title), url=_text(document.url), date=_text(document.date), author=_text(document.author)
    )
    return document.text or "", metadata


def pdf_text(raw: bytes) -> tuple[str, Metadata]:
    """The text of a text PDF, pages separated by blank lines; scanned PDFs give no text.

    Any failure of the parser (an encrypted file, a missing optional dependency, a damaged one)
    is this file's problem only, so it becomes ``UnreadableDocument`` with the reason."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted:
            _decrypt_without_password(reader)
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata or {}
        metadata = Metadata(title=_text(info.get("/Title")), author=_text(info.get("/Author")))
    except UnreadableDocument:
        raise
    except Exception as error:  # a parser's failure on one file must never stop a build
        raise UnreadableDocument(f"not a readable PDF ({type(error).__name__}: {error})") from None
    return "\n\n".join(page.strip() for page in pages if page.strip()), metadata


def _decrypt_without_password(reader: PdfReader) -> None:
    """Open a PDF that is encrypted with an owner password only (an empty user password)."""
    from pypdf.errors import DependencyError, FileNotDecryptedError

    try:
        opened = reader.decrypt("")
    except DependencyError:
        raise UnreadableDocument(
            "it is an encrypted PDF and reading it needs the `cryptography` package "
            "(pip install cryptography), or save it without encryption"
        ) from None
    except FileNotDecryptedError:
        opened = 0
    if not opened:
        raise UnreadableDocument("it is a password-protected PDF; save it without a password to index it")


def _text(value: object) -> str | None:
    return str(value) if value else None
