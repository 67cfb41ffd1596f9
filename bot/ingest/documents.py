"""Read article files of each supported format into Articles: the file's text and metadata
(``load_article``), then cleaned of page chrome as the index holds it (``read_article``)."""

from __future__ import annotations

import hashlib
import logging
import re
import stat
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from bot.errors import DocumentsError, UnreadableDocument
from bot.ingest.clean import clean
from bot.ingest.formats import html_text, pdf_text
from bot.models import Article, Metadata

log = logging.getLogger(__name__)

TEXT_SUFFIXES = {".txt", ".text"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
PDF_SUFFIXES = {".pdf"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | MARKDOWN_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024

FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
# Front matter holds a title, an address, a date and an author: a few hundred bytes, rarely a few KB.
MAX_FRONT_MATTER_CHARS = 16 * 1024
MAX_FRONT_MATTER_DEPTH = 16


class FrontMatterLoader(yaml.SafeLoader):
    """Safe YAML without anchors and aliases, nested at most ``MAX_FRONT_MATTER_DEPTH`` deep: a few hundred
    bytes of aliases that expand into billions of items, or thousands of nested brackets (whose parsing
    takes quadratic time), are refused as soon as they are met."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0

    def fetch_alias(self) -> None:
        raise yaml.YAMLError("front matter may not use aliases (*name)")

    def fetch_anchor(self) -> None:
        raise yaml.YAMLError("front matter may not use anchors (&name)")

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        if self.flow_level >= MAX_FRONT_MATTER_DEPTH:
            raise yaml.YAMLError(f"front matter nested more than {MAX_FRONT_MATTER_DEPTH} deep")
        super().fetch_flow_collection_start(TokenClass)

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.depth += 1
        try:
            if self.depth > MAX_FRONT_MATTER_DEPTH:
                raise yaml.YAMLError(f"front matter nested more than {MAX_FRONT_MATTER_DEPTH} deep")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


@dataclass(frozen=True)
class Skipped:
    document: str
    reason: str


@dataclass(frozen=True)
class FoundDocument:
    """A file and the id its content gives it, known before anything is parsed."""

    path: Path
    document: str
    id: str


def find_documents(folder: Path) -> list[Path]:
    """Every supported file below ``folder``, in a stable order; hidden files are left out.

    Only regular files that lie inside the folder are read: a link to ``/etc/passwd`` or a pipe
    named ``x.txt`` is skipped with a warning, so nothing outside the folder can be quoted."""
    if not folder.exists():
        raise DocumentsError(
            f"The documents folder {folder} does not exist. Create it and put articles in it "
            "(.txt, .md, .html, .pdf), or point CITEBOT_DOCUMENTS / --documents at your articles."
        )
    if not folder.is_dir():
        raise DocumentsError(f"{folder} is not a folder. Point --documents at the folder of articles.")
    root = folder.resolve()
    found = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.suffix.lower() not in SUPPORTED_SUFFIXES or any(part.startswith(".") for part in relative.parts):
            continue
        refusal = _refusal(path, root)
        if refusal:
            log.warning("Skipped %s: %s", relative.as_posix(), refusal)
        elif not path.is_dir():
            found.append(path)
    return found


def _refusal(path: Path, root: Path) -> str | None:
    """Why this entry must not be read, or None for a regular file (or a folder) inside ``root``."""
    try:
        resolved = path.resolve(strict=True)
        mode = resolved.stat().st_mode
    except (OSError, RuntimeError) as error:
        return f"it cannot be opened ({getattr(error, 'strerror', None) or error})"
    if not resolved.is_relative_to(root):
        return "it is a link to a file outside the documents folder"
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return "it is not a regular file (a pipe, socket or device)"
    return None


def scan_documents(folder: Path) -> list[FoundDocument]:
    """Every supported file with its id, so a rebuild can tell what changed without parsing."""
    found = []
    for path in find_documents(folder):
        document = path.relative_to(folder).as_posix()
        try:
            raw = path.read_bytes()
        except OSError as error:
            log.warning("Skipped %s: it cannot be read (%s)", document, error.strerror or error)
            continue
        found.append(FoundDocument(path, document, article_id(document, raw)))
    return found


def article_id(document: str, raw: bytes) -> str:
    """Derived from the file's place and content: a copy elsewhere is another article, an edit a new id."""
    return hashlib.sha256(document.encode("utf-8") + b"\0" + raw).hexdigest()[:16]


def read_article(document: FoundDocument) -> Article:
    """The article as the index holds it: its file's text and metadata, cleaned of page chrome; any
    problem with the file is an ``UnreadableDocument``."""
    return clean(load_article(document.path, document.document))


def load_article(path: Path, document: str) -> Article:
    """The article in one file, its text as found (``citebot add`` saves that; ``read_article`` cleans it);
    any problem with this file is an ``UnreadableDocument``."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise UnreadableDocument(f"it cannot be read ({error.strerror or error})") from None
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise UnreadableDocument(f"larger than {MAX_DOCUMENT_BYTES // (1024 * 1024)} MB")
    suffix = path.suffix.lower()
    if suffix in PDF_SUFFIXES:
        text, metadata = pdf_text(raw)
    else:
        text = decode_text(raw)
        if suffix in HTML_SUFFIXES:
            text, metadata = html_text(text)
        else:
            metadata, text = split_front_matter(text)
    if not text.strip():
        raise UnreadableDocument("no text in it")
    return Article(
        id=article_id(document, raw),
        document=document,
        title=metadata.title or "",
        text=text,
        url=metadata.url,
        date=metadata.date,
        author=metadata.author,
    )


def decode_text(raw: bytes) -> str:
    if b"\x00" in raw[:8192]:
        raise UnreadableDocument("it looks binary (NUL bytes), not text")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UnreadableDocument(f"not UTF-8 text (byte {error.start}); save it as UTF-8") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def split_front_matter(text: str) -> tuple[Metadata, str]:
    """Metadata from a leading ``---`` YAML block, and the text after it; a block that is too large, too
    deep, uses aliases or is no valid YAML is read as plain text."""
    match = FRONT_MATTER.match(text)
    if not match:
        return Metadata(), text
    if len(match.group(1)) > MAX_FRONT_MATTER_CHARS:
        log.warning("Front matter is larger than %d KB; reading the file as plain text", MAX_FRONT_MATTER_CHARS // 1024)
        return Metadata(), text
    try:
        data = yaml.load(match.group(1), Loader=FrontMatterLoader)  # a SafeLoader without aliases
    except (yaml.YAMLError, ValueError, RecursionError) as error:  # ValueError: a date such as 2020-13-45
        log.warning("Front matter is not valid YAML (%s); reading the file as plain text", str(error).split("\n")[0])
        return Metadata(), text
    if not isinstance(data, dict):
        return Metadata(), text
    metadata = Metadata(**{key: _field(data.get(key)) for key in asdict(Metadata())})
    return metadata, text[match.end() :]


def front_matter(metadata: Metadata) -> str:
    """The block ``split_front_matter`` reads back, for articles the project writes itself."""
    kept = {key: value for key, value in asdict(metadata).items() if value}
    return "---\n" + yaml.safe_dump(kept, allow_unicode=True, sort_keys=False) + "---\n"


def _field(value: object) -> str | None:
    """A scalar (text, number, date) as text; a list or mapping where one value belongs is no value."""
    if not isinstance(value, str | int | float | date):
        return None
    return str(value).strip() or None
