"""Text and metadata out of HTML and PDF, with well-kept extractors (imported only when needed)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bot.errors import UnreadableDocument
from bot.models import Metadata

log = logging.getLogger(__name__)


def html_text(html: str) -> tuple[str, Metadata]:
    """The article text of a page and its title, url, date and author (from meta tags)."""
    import trafilatura

    with parser_failures("HTML page"):
        document = trafilatura.bare_extraction(html, with_metadata=True, include_comments=False)
    if document is None or isinstance(document, dict):  # a dict only with as_dict=True, which we never pass
        return "", Metadata()
    metadata = Metadata(
        title=_text(document.title), url=_text(document.url), date=_text(document.date), author=_text(document.author)
    )
    return without_headline(document.text or "", metadata.title, _headings(html)), metadata


def without_headline(text: str, title: str | None, headings: tuple[str, ...] = ()) -> str:
    """The page text without a first line that repeats the title, and with a first line that is another
    headline (an ``<h1>``) as a paragraph of its own: a headline is never the start of the first sentence."""
    first, newline, rest = text.partition("\n")
    if not newline:
        return text
    if title and _folded(first) == _folded(title):
        return rest.lstrip()
    if _folded(first) in {_folded(heading) for heading in headings}:
        return f"{first}\n\n{rest.lstrip()}"
    return text


def _headings(html: str) -> tuple[str, ...]:
    """The text of the page's ``<h1>`` elements; none when the page cannot be parsed."""
    from lxml import etree
    from lxml import html as lxml_html

    try:
        return tuple(heading.text_content() for heading in lxml_html.fromstring(html).iter("h1"))
    except (ValueError, TypeError, RecursionError, etree.LxmlError):
        return ()


def _folded(text: str) -> str:
    return " ".join(text.split()).casefold()


def pdf_text(raw: bytes) -> tuple[str, Metadata]:
    """The text of a text PDF, pages separated by blank lines; scanned PDFs give no text.

    A PDF locked with only an owner password opens with the empty user password, as a viewer
    opens it; its AES encryption needs the optional ``cryptography`` package."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError

    with parser_failures("PDF"):
        try:
            reader = PdfReader(io.BytesIO(raw))
            pages = [page.extract_text() or "" for page in reader.pages]
            info: Any = reader.metadata or {}
        except DependencyError:
            raise UnreadableDocument(
                "it is an encrypted PDF, and decrypting it needs the `cryptography` package "
                "(`pip install cryptography`); or save it without encryption"
            ) from None
        except FileNotDecryptedError:
            raise UnreadableDocument("it is a password-protected PDF; save it without a password") from None
    metadata = Metadata(title=_text(info.get("/Title")), author=_text(info.get("/Author")))
    return "\n\n".join(page.strip() for page in pages if page.strip()), metadata


@contextmanager
def parser_failures(kind: str) -> Iterator[None]:
    """Whatever a third-party parser raises on one file becomes that file's skip reason."""
    try:
        yield
    except UnreadableDocument:
        raise
    except Exception as error:  # a parser's failure on one file must never stop a build
        log.debug("The %s parser failed", kind, exc_info=True)
        raise UnreadableDocument(f"not a readable {kind} ({type(error).__name__}: {error})") from None


def _text(value: object) -> str | None:
    return str(value) if value else None
