"""`citebot add`: one article from a URL or a local file, saved into the documents folder as Markdown
with front matter, so that a rebuild from the folder alone gives the same index.

Fetching is careful because the page is someone else's: http(s) only, a timeout on the whole
download, a size cap enforced while reading, and a content-type check before anything is parsed.
"""

from __future__ import annotations

import logging
import re
import time
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, replace
from email.message import Message
from pathlib import Path

from bot.errors import SourceError
from bot.ingest.documents import (
    HTML_SUFFIXES,
    PDF_SUFFIXES,
    SUPPORTED_SUFFIXES,
    UnreadableDocument,
    front_matter,
    load_article,
    split_front_matter,
)
from bot.models import Metadata

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 20.0
MAX_BYTES = 5 * 1024 * 1024
MIN_ARTICLE_WORDS = 20
MAX_NAME_CHARS = 80
USER_AGENT = "citebot/0.1 (fetches one article when a user runs citebot add)"
HTML_TYPES = {"text/html", "application/xhtml+xml"}
TEXT_TYPES = {"text/plain", "text/markdown", "text/x-markdown"}
PDF_TYPES = {"application/pdf"}
READ_BLOCK = 64 * 1024
SENTENCE_ENDS = (".", "!", "?", '"', "”", "’", "»", ")")


@dataclass(frozen=True)
class NewArticle:
    """An article ready to be saved: its text and what the front matter records."""

    title: str
    text: str
    url: str | None = None
    date: str | None = None
    author: str | None = None

    def markdown(self) -> str:
        metadata = Metadata(title=self.title, url=self.url, date=self.date, author=self.author)
        return front_matter(metadata) + "\n" + self.text + "\n"


@dataclass(frozen=True)
class Added:
    """Where the article lies in the documents folder; ``already_present`` when it was there before."""

    path: Path
    title: str
    already_present: bool


def add_source(source: str, documents: Path, max_bytes: int = MAX_BYTES) -> Added:
    """Fetch or read ``source`` (an http(s) URL or a file path) and save it into ``documents``."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", source):
        article = fetch_url(source, max_bytes)
    else:
        article = read_file(Path(source).expanduser())
    return save_article(article, documents)


def fetch_url(url: str, max_bytes: int = MAX_BYTES) -> NewArticle:
    """The article at ``url``: HTML through trafilatura, PDF through pypdf, plain text as it is."""
    if urllib.parse.urlsplit(url).scheme.lower() not in ("http", "https"):
        raise SourceError(f"Only http:// and https:// addresses can be added, not {url!r}. For a file, give its path.")
    raw, content_type, charset, final_url = _download(url, max_bytes)
    if content_type in HTML_TYPES:
        from bot.ingest.formats import html_text

        text, metadata = html_text(_decode(raw, charset))
        text = html_paragraphs(text)
    elif content_type in PDF_TYPES:
        text, metadata = _pdf(raw, url)
        text = pdf_paragraphs(text)
    elif content_type in TEXT_TYPES:
        metadata, text = split_front_matter(_decode(raw, charset))
    else:
        raise SourceError(
            f"{url} is {content_type or 'of no stated type'}, not an article page (HTML, PDF or text). "
            "Give the address of the article itself."
        )
    fallback = urllib.parse.unquote(Path(urllib.parse.urlsplit(final_url).path).stem) or final_url
    return _article(text, replace(metadata, url=final_url), fallback, url)


def read_file(path: Path) -> NewArticle:
    """A local .txt, .md, .html or .pdf file, read the way `citebot index` reads it."""
    if not path.is_file():
        raise SourceError(f"There is no file {path}. Give the path of an article file or an http(s) address.")
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise SourceError(
            f"{path.name} is not a supported article file. Give a .txt, .md, .html or .pdf file, or an address."
        )
    try:
        loaded = load_article(path, path.name)
    except UnreadableDocument as reason:
        raise SourceError(f"Could not read {path}: {reason}.") from None
    metadata = Metadata(title=loaded.title or None, url=loaded.url, date=loaded.date, author=loaded.author)
    suffix = path.suffix.lower()
    text = (
        pdf_paragraphs(loaded.text)
        if suffix in PDF_SUFFIXES
        else html_paragraphs(loaded.text)
        if suffix in HTML_SUFFIXES
        else loaded.text
    )
    return _article(text, metadata, path.stem, str(path))


def save_article(article: NewArticle, documents: Path) -> Added:
    """Write the article under a name made from its title; never overwrites, and an article whose
    file would be identical to one already in the folder is reported as present instead."""
    documents.mkdir(parents=True, exist_ok=True)
    content = article.markdown().encode("utf-8")
    for existing in documents.rglob("*.md"):
        if existing.is_file() and existing.stat().st_size == len(content) and existing.read_bytes() == content:
            return Added(existing, article.title, already_present=True)
    stem = safe_name(article.title)
    for number in range(1, 1000):
        path = documents / (f"{stem}.md" if number == 1 else f"{stem}-{number}.md")
        try:
            with open(path, "xb") as handle:
                handle.write(content)
        except FileExistsError:
            continue
        log.info("Saved %s", path)
        return Added(path, article.title, already_present=False)
    raise SourceError(f"Too many articles named {stem!r} in {documents}. Rename some of them and try again.")


def safe_name(title: str) -> str:
    """A file name stem of lowercase ASCII letters, digits and hyphens: no path can be smuggled in."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    stem = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    return stem[:MAX_NAME_CHARS].rstrip("-") or "article"


def html_paragraphs(text: str) -> str:
    """trafilatura's text, a paragraph per line, as paragraphs one blank line apart, which is how
    the chunker sees paragraphs."""
    return "\n\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())


def pdf_paragraphs(text: str) -> str:
    """pypdf's text, wrapped lines and blank lines between pages, as paragraphs one blank line apart.
    A PDF does not mark paragraphs, so a line ending a sentence ends one: at worst a paragraph is
    split in two, never are two joined."""
    paragraphs: list[str] = []
    for page in text.split("\n\n"):
        lines: list[str] = []
        for line in page.splitlines():
            if line.strip():
                lines.append(" ".join(line.split()))
            if lines and (not line.strip() or lines[-1].endswith(SENTENCE_ENDS)):
                paragraphs.append(" ".join(lines))
                lines = []
        if lines:
            paragraphs.append(" ".join(lines))
    return "\n\n".join(paragraphs)


def _article(text: str, metadata: Metadata, fallback_title: str, source: str) -> NewArticle:
    """The article to save; its title is not repeated as the first line of its text."""
    title = " ".join((metadata.title or fallback_title).split())
    body = text.strip()
    first, _, rest = body.partition("\n")
    if first.strip() == title:
        body = rest.strip()
    if len(body.split()) < MIN_ARTICLE_WORDS:
        raise SourceError(
            f"Found no article text in {source}. If the page shows an article, save its text to a .txt "
            "or .md file and run `citebot add FILE`."
        )
    return NewArticle(title=title, text=body, url=metadata.url, date=metadata.date, author=metadata.author)


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects to http(s) addresses only (never file:, ftp: or data:)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        if urllib.parse.urlsplit(newurl).scheme.lower() not in ("http", "https"):
            raise SourceError(f"{req.full_url} redirects to {newurl}, which is not an http(s) address.")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _download(url: str, max_bytes: int) -> tuple[bytes, str, str | None, str]:
    """The body, its media type and charset, and the address after redirects."""
    opener = urllib.request.build_opener(_HttpOnlyRedirects())
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "text/html,*/*;q=0.8"})
    deadline = time.monotonic() + TIMEOUT_SECONDS
    try:
        with opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            headers: Message = response.headers
            content_type = headers.get_content_type() if headers.get("Content-Type") else ""
            declared = headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise _too_large(url, max_bytes)
            chunks: list[bytes] = []
            size = 0
            while block := response.read(READ_BLOCK):
                size += len(block)
                if size > max_bytes:
                    raise _too_large(url, max_bytes)
                if time.monotonic() > deadline:
                    raise SourceError(f"{url} took longer than {TIMEOUT_SECONDS:g} s to download. Try again later.")
                chunks.append(block)
            return b"".join(chunks), content_type, headers.get_content_charset(), response.geturl()
    except urllib.error.HTTPError as error:
        raise SourceError(f"{url} answered {error.code} {error.reason}. Check the address.") from None
    except urllib.error.URLError as error:
        raise SourceError(f"Could not reach {url} ({error.reason}). Check the address and the connection.") from None
    except TimeoutError:
        raise SourceError(f"{url} did not answer within {TIMEOUT_SECONDS:g} s. Try again later.") from None
    except (OSError, ValueError) as error:
        raise SourceError(f"Could not fetch {url} ({error}). Check the address.") from None


def _too_large(url: str, max_bytes: int) -> SourceError:
    return SourceError(
        f"{url} is larger than {max_bytes // (1024 * 1024)} MB, too large for an article page. "
        "Save the article's text to a file and run `citebot add FILE`."
    )


def _decode(raw: bytes, charset: str | None) -> str:
    if charset:
        try:
            return raw.decode(charset)
        except (LookupError, UnicodeDecodeError):
            log.info("The page is not valid %s; guessing its encoding", charset)
    from trafilatura.utils import decode_file

    return str(decode_file(raw))


def _pdf(raw: bytes, url: str) -> tuple[str, Metadata]:
    from bot.ingest.formats import pdf_text

    try:
        return pdf_text(raw)
    except UnreadableDocument as reason:
        raise SourceError(f"Could not read the PDF at {url}: {reason}.") from None
