"""`citebot add`: one article from a URL or a local file, saved into the documents folder as Markdown
with front matter, so that a rebuild from the folder alone gives the same index.

The saved text is exactly the text the indexer would read from the original file or page (trafilatura's
text of an HTML page, pypdf's of a PDF), so a page gives the same passages whether it came in through
`citebot add` or as a file in the documents folder: ``clean`` does all the paragraph work, once.
Fetching (deadline, size cap, no private addresses) is `bot.ingest.download`'s.
"""

from __future__ import annotations

import logging
import re
import unicodedata
import urllib.parse
from dataclasses import dataclass, replace
from pathlib import Path

from bot.errors import SourceError, UnreadableDocument
from bot.ingest.documents import SUPPORTED_SUFFIXES, front_matter, load_article, split_front_matter
from bot.ingest.download import download, normalise_url
from bot.ingest.files import write_new_file
from bot.models import Metadata

log = logging.getLogger(__name__)

MAX_BYTES = 5 * 1024 * 1024
MIN_ARTICLE_WORDS = 20
MAX_NAME_CHARS = 80
FRONT_MATTER_BYTES = 8192
HTML_TYPES = {"text/html", "application/xhtml+xml"}
TEXT_TYPES = {"text/plain", "text/markdown", "text/x-markdown"}
PDF_TYPES = {"application/pdf"}


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
    date: str | None = None


def add_source(source: str, documents: Path, max_bytes: int = MAX_BYTES, allow_private: bool = False) -> Added:
    """Fetch or read ``source`` (an http(s) URL or a file path) and save it into ``documents``.

    An address already saved (in any spelling: case, default port, ``#fragment``) is not fetched again."""
    if not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", source):
        return save_article(read_file(Path(source).expanduser()), documents)
    return add_url(source, documents, max_bytes, allow_private)


def add_url(url: str, documents: Path, max_bytes: int = MAX_BYTES, allow_private: bool = False) -> Added:
    """Fetch the article at the http(s) address ``url`` into ``documents`` (never a local file: this is
    what Discord's ``/add`` calls)."""
    url = normalise_url(url)
    saved = saved_urls(documents)
    if url in saved:
        return Added(saved[url], saved_title(saved[url]), already_present=True)
    return save_article(fetch_url(url, max_bytes, allow_private), documents)


def fetch_url(url: str, max_bytes: int = MAX_BYTES, allow_private: bool = False) -> NewArticle:
    """The article at ``url``: HTML through trafilatura, PDF through pypdf, plain text as it is."""
    from bot.ingest.formats import html_text, pdf_text

    page = download(url, max_bytes=max_bytes, allow_private=allow_private)
    if page.content_type in HTML_TYPES:
        text, metadata = html_text(_decode(page.body, page.charset))
    elif page.content_type in PDF_TYPES:
        try:
            text, metadata = pdf_text(page.body)
        except UnreadableDocument as reason:
            raise SourceError(f"Could not read the PDF at {url}: {reason}.") from None
    elif page.content_type in TEXT_TYPES:
        metadata, text = split_front_matter(_decode(page.body, page.charset))
    else:
        raise SourceError(
            f"{url} is {page.content_type or 'of no stated type'}, not an article page (HTML, PDF or text). "
            "Give the address of the article itself."
        )
    fallback = urllib.parse.unquote(Path(urllib.parse.urlsplit(page.url).path).stem) or page.url
    return _article(text, replace(metadata, url=page.url), fallback, url)


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
    return _article(loaded.text, metadata, path.stem, str(path))


def saved_urls(documents: Path) -> dict[str, Path]:
    """The normalised address of every saved article that records one, and its file."""
    found: dict[str, Path] = {}
    if not documents.is_dir():
        return found
    for path in sorted(documents.rglob("*.md")):
        if not path.is_file():
            continue
        url = web_address(_front_matter(path).url)
        if url:
            found.setdefault(url, path)
    return found


def web_address(url: str | None) -> str | None:
    """``url`` normalised when it is a web address, else None (front matter may hold anything)."""
    try:
        return normalise_url(url) if url else None
    except SourceError:
        return None


def saved_title(path: Path) -> str:
    return _front_matter(path).title or path.stem


def _front_matter(path: Path) -> Metadata:
    with open(path, "rb") as handle:
        head = handle.read(FRONT_MATTER_BYTES).decode("utf-8", errors="replace")
    return split_front_matter(head)[0]


def save_article(article: NewArticle, documents: Path) -> Added:
    """Write the article under a name made from its title; never overwrites. An article whose address
    or whose file would be identical to one already in the folder is reported as present instead."""
    documents.mkdir(parents=True, exist_ok=True)
    url = web_address(article.url)
    if url:
        saved = saved_urls(documents).get(url)
        if saved:
            return Added(saved, article.title, already_present=True, date=article.date)
    content = article.markdown().encode("utf-8")
    for existing in documents.rglob("*.md"):
        if existing.is_file() and existing.stat().st_size == len(content) and existing.read_bytes() == content:
            return Added(existing, article.title, already_present=True, date=article.date)
    stem = safe_name(article.title)
    for number in range(1, 1000):
        path = documents / (f"{stem}.md" if number == 1 else f"{stem}-{number}.md")
        if not path.exists() and write_new_file(path, content):
            log.info("Saved %s", path)
            return Added(path, article.title, already_present=False, date=article.date)
    raise SourceError(f"Too many articles named {stem!r} in {documents}. Rename some of them and try again.")


def safe_name(title: str) -> str:
    """A file name stem of lowercase ASCII letters, digits and hyphens: no path can be smuggled in."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    stem = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    return stem[:MAX_NAME_CHARS].rstrip("-") or "article"


def _article(text: str, metadata: Metadata, fallback_title: str, source: str) -> NewArticle:
    """The article to save, its text as the indexer reads it; too little text is no article."""
    title = " ".join((metadata.title or fallback_title).split())
    body = text.strip()
    if len(body.split()) < MIN_ARTICLE_WORDS:
        raise SourceError(
            f"Found no article text in {source}. If the page shows an article, save its text to a .txt "
            "or .md file and run `citebot add FILE`."
        )
    return NewArticle(title=title, text=body, url=metadata.url, date=metadata.date, author=metadata.author)


def _decode(raw: bytes, charset: str | None) -> str:
    if charset:
        try:
            return raw.decode(charset)
        except (LookupError, UnicodeDecodeError):
            log.info("The page is not valid %s; guessing its encoding", charset)
    from trafilatura.utils import decode_file

    return str(decode_file(raw))
