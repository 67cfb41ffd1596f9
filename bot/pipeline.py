"""The whole flow in a few readable lines: ``build_index`` here, and ``Engine.ask`` (``bot.engine``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.embed.encoder import Embedder, SentenceTransformerEmbedder
from bot.embed.onnx import query_embedder, reuse_or_export
from bot.errors import DocumentsError, IndexCorruptError, IndexMismatchError, UnreadableDocument
from bot.ingest.chunk import ChunkingSettings, chunk
from bot.ingest.documents import FoundDocument, Skipped, read_article, scan_documents
from bot.models import IndexInfo
from bot.render.progress import progress as embedding_progress
from bot.render.text import plural
from bot.settings import Settings
from bot.store.builds import BuildPlan, NewArticle, lock_index, open_build
from bot.store.garbage import collect_garbage
from bot.store.reading import read_info
from bot.store.reuse import base_vectors, indexed_documents, legacy_vectors
from bot.store.schema import BuildRecord, current_build, digest

log = logging.getLogger(__name__)

EMBED_BATCH = 256


@dataclass(frozen=True)
class BuildReport:
    articles: int
    passages: int
    sentences: int
    added: int
    changed: int
    removed: int
    unchanged: int
    embedded: int
    skipped: tuple[Skipped, ...]
    seconds: float
    published: bool = True

    def summary(self) -> str:
        if self.published:
            line = (
                f"Indexed {plural(self.articles, 'article')}, {plural(self.passages, 'passage')} "
                f"in {self.seconds:.1f} s: "
                f"{self.added} added, {self.changed} changed, {self.removed} removed, {self.unchanged} unchanged; "
                f"{plural(self.embedded, 'sentence')} embedded"
            )
        else:
            line = (
                f"Index is up to date: {plural(self.articles, 'article')}, {plural(self.passages, 'passage')}; "
                "nothing changed"
            )
        if self.skipped:
            line += f"; skipped {len(self.skipped)}: " + ", ".join(s.document for s in self.skipped)
        return line + "."


def build_index(settings: Settings, progress: bool = False, embedder: Embedder | None = None) -> BuildReport:
    """Bring the index up to date with the documents folder, then publish it in one atomic step.

    On top of the published build (when it was built the same way), only new or changed articles
    are cleaned, chunked and embedded, and removed ones are dropped; when nothing changed, nothing
    is written. The model loads only once there is text to embed.
    """
    started = time.perf_counter()
    chunking = ChunkingSettings()
    found = {document.document: document for document in scan_documents(settings.documents)}
    with lock_index(settings.index) as index:
        published = _published_build(settings)
        base = published if published and _reusable(published, settings, chunking) else None
        changes = _read_changes(indexed_documents(base), found, chunking)
        _require_articles(settings.documents, changes)
        if base is not None and changes.nothing():
            return changes.report(read_info(base), embedded=0, started=started, published=False)
        embedder = embedder or _embedder(base, settings.model)
        vectors, embedded = _vectors(settings, base, embedder, changes.added + changes.changed, progress)
        with open_build(index, base) as build:
            info = build.apply(changes.plan(settings.model, chunking, vectors))
            reuse_or_export(embedder, settings.model, published, build.folder)
        collect_garbage(index)
    return changes.report(info, embedded, started)


@dataclass(frozen=True)
class _Changes:
    """How the documents folder differs from the base build, the new and changed articles read."""

    kept: int
    removed: tuple[str, ...]
    unreadable: tuple[str, ...]
    added: tuple[NewArticle, ...]
    changed: tuple[NewArticle, ...]
    skipped: tuple[Skipped, ...]

    @property
    def articles(self) -> int:
        """How many articles the new build holds."""
        return self.kept + len(self.added) + len(self.changed)

    def nothing(self) -> bool:
        return not (self.removed or self.unreadable or self.added or self.changed)

    def plan(self, model: str, chunking: ChunkingSettings, vectors: Mapping[str, np.ndarray]) -> BuildPlan:
        """What the build writes: it drops the documents gone and those changed into something unreadable."""
        dropped = self.removed + self.unreadable
        return BuildPlan(model, chunking.describe(), self.added, self.changed, dropped, vectors)

    def report(self, info: IndexInfo, embedded: int, started: float, published: bool = True) -> BuildReport:
        return BuildReport(
            articles=info.articles,
            passages=info.passages,
            sentences=info.sentences,
            added=len(self.added),
            changed=len(self.changed),
            removed=len(self.removed),
            unchanged=self.kept,
            embedded=embedded,
            skipped=self.skipped,
            seconds=time.perf_counter() - started,
            published=published,
        )


def _published_build(settings: Settings) -> Path | None:
    try:
        return current_build(settings.index)
    except IndexCorruptError:
        return None


def _reusable(build: Path, settings: Settings, chunking: ChunkingSettings) -> bool:
    """Whether a new build can extend ``build``: made with this model and chunking, and readable.
    Reads the build record only, no vectors."""
    try:
        info = read_info(build)
        intact = BuildRecord.read(build).intact(build)
    except (IndexCorruptError, IndexMismatchError):
        return False
    return intact and info.model == settings.model and info.chunking == chunking.describe()


def _read_changes(previous: dict[str, str], found: dict[str, FoundDocument], chunking: ChunkingSettings) -> _Changes:
    """Compare the documents with the base build's (``previous``: document to article id), and read the
    new and changed ones."""
    removed = tuple(document for document in previous if document not in found)
    changed = {d for d in previous if d in found and found[d].id != previous[d]}
    added = {d for d in found if d not in previous}
    read, skipped = _read_articles([found[d] for d in sorted(changed | added)], chunking)
    return _Changes(
        kept=len(previous) - len(removed) - len(changed),
        removed=removed,
        unreadable=tuple(sorted(d for d in changed if d not in read)),
        added=tuple(read[d] for d in sorted(added) if d in read),
        changed=tuple(read[d] for d in sorted(changed) if d in read),
        skipped=skipped,
    )


def _require_articles(documents: Path, changes: _Changes) -> None:
    """Refuse a build that would hold no article, before any model loads."""
    if not changes.articles:
        skipped = ", ".join(skipped.document for skipped in changes.skipped)
        raise DocumentsError(
            f"No readable articles in {documents}. Add .txt, .md, .html or .pdf files"
            + (f" (skipped: {skipped})." if skipped else ".")
        )


def _read_articles(
    documents: list[FoundDocument], chunking: ChunkingSettings
) -> tuple[dict[str, NewArticle], tuple[Skipped, ...]]:
    """Load, clean and chunk these articles, by document; and what was skipped, and why."""
    read: dict[str, NewArticle] = {}
    skipped: list[Skipped] = []
    for document in documents:
        try:
            article = read_article(document)
        except UnreadableDocument as reason:
            log.warning("Skipped %s: %s", document.document, reason)
            skipped.append(Skipped(document.document, str(reason)))
            continue
        chunks = chunk(article.text, chunking)
        if not chunks:
            log.warning("Skipped %s: no text left after cleaning", document.document)
            skipped.append(Skipped(document.document, "no text left after cleaning"))
            continue
        read[document.document] = NewArticle(article, tuple(chunks))
    return read, tuple(skipped)


def _embedder(base: Path | None, model: str) -> Embedder:
    # Updating a build that carries the ONNX query model embeds with it: same vectors (cosine >= 0.999,
    # tested), and no torch import, which is most of the time a small `citebot index` or `add` takes.
    return query_embedder(base, model) if base else SentenceTransformerEmbedder(model)


def _vectors(
    settings: Settings, base: Path | None, embedder: Embedder, articles: Sequence[NewArticle], progress: bool
) -> tuple[dict[str, np.ndarray], int]:
    """A vector for every sentence of these articles, by digest, and how many texts were embedded: only
    those that neither the base build nor an index from before shared stores has a vector for."""
    texts = {digest(sentence.text): sentence.text for article in articles for sentence in article.sentences()}
    wanted = list(texts)
    vectors = base_vectors(base, wanted) if base else legacy_vectors(settings.index, settings.model, wanted)
    # Sorted by length so each batch pads little: unsorted batches ran at 76-78 % of raw model.encode.
    missing = sorted((d for d in texts if d not in vectors), key=lambda d: len(texts[d]))
    with embedding_progress(len(missing), "Embedding", "sentences", shown=progress) as bar:
        for start in range(0, len(missing), EMBED_BATCH):
            batch = missing[start : start + EMBED_BATCH]
            vectors.update(zip(batch, embedder.embed([texts[d] for d in batch]), strict=True))
            bar.update(len(batch))
    return vectors, len(missing)


__all__ = ["BuildReport", "build_index"]
