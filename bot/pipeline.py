"""The whole flow in a few readable lines: ``build_index`` here, and ``Engine.ask`` (``bot.engine``)."""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bot.embed.encoder import Embedder, SentenceTransformerEmbedder
from bot.embed.onnx import query_embedder, reuse_or_export
from bot.engine import Engine, check_question
from bot.errors import DocumentsError, IndexCorruptError, IndexMismatchError
from bot.ingest.chunk import ChunkingSettings, chunk
from bot.ingest.clean import clean
from bot.ingest.documents import FoundDocument, Skipped, UnreadableDocument, load_article, scan_documents
from bot.models import IndexInfo
from bot.render.progress import progress as embedding_progress
from bot.render.text import plural
from bot.settings import Settings
from bot.sqlite_files import disk_os_error
from bot.store.builds import BuildWriter, PendingSentence
from bot.store.reading import read_info
from bot.store.schema import BuildRecord, current_build

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
    published = _published_build(settings)
    base = published if published and _reusable(published, settings, chunking) else None
    writer = BuildWriter(settings.index, base)
    try:
        previous = writer.articles()
        removed = [d for d in previous if d not in found]
        changed = [d for d in previous if d in found and found[d].id != previous[d]]
        added = [d for d in found if d not in previous]
        writer.remove_articles(removed + changed)
        pending, skipped = _add_articles(writer, [found[d] for d in sorted(changed + added)], chunking)
        articles, passages, sentences = writer.counts()
        if not articles:
            raise DocumentsError(
                f"No readable articles in {settings.documents}. Add .txt, .md, .html or .pdf files"
                + (f" (skipped: {', '.join(s.document for s in skipped)})." if skipped else ".")
            )
        stored = len(changed) + len(added) - len(skipped)
        nothing_changed = not (removed or changed or stored)
        if writer.base_info is not None and nothing_changed:
            writer.discard()
            return BuildReport(
                articles,
                passages,
                sentences,
                0,
                0,
                0,
                len(previous),
                0,
                tuple(skipped),
                time.perf_counter() - started,
                published=False,
            )
        # Updating a build that carries the ONNX query model embeds with it: same vectors (cosine >= 0.999,
        # tested), and no torch import, which is most of the time a small `citebot index` or `add` takes.
        embedder = embedder or (
            query_embedder(base, settings.model) if base else SentenceTransformerEmbedder(settings.model)
        )
        embedded = _embed_pending(writer, embedder, settings.model, pending, progress)
        info = IndexInfo(
            model=settings.model,
            dimension=writer.dimension,
            chunking=chunking.describe(),
            built_at=datetime.now(UTC).isoformat(timespec="seconds"),
            articles=articles,
            passages=passages,
            sentences=sentences,
        )
        reuse_or_export(embedder, settings.model, published, writer.build_folder())
        writer.finish(info)
        writer.publish()
    except sqlite3.Error as error:  # a full disk, or a store citebot may not write: the one-line disk message
        writer.discard()
        disk = disk_os_error(error, settings.index / writer.store)
        if disk is None:
            raise
        raise disk from None
    except BaseException:
        writer.discard()
        raise
    return BuildReport(
        articles=articles,
        passages=passages,
        sentences=sentences,
        added=len(added) - sum(s.document in added for s in skipped),
        changed=len(changed) - sum(s.document in changed for s in skipped),
        removed=len(removed),
        unchanged=len(previous) - len(removed) - len(changed),
        embedded=embedded,
        skipped=tuple(skipped),
        seconds=time.perf_counter() - started,
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


def _add_articles(
    writer: BuildWriter, documents: list[FoundDocument], chunking: ChunkingSettings
) -> tuple[list[PendingSentence], list[Skipped]]:
    """Load, clean and chunk these articles into the build; the sentences to embed, and what was skipped."""
    pending: list[PendingSentence] = []
    skipped: list[Skipped] = []
    for document in documents:
        try:
            article = clean(load_article(document.path, document.document))
        except UnreadableDocument as reason:
            log.warning("Skipped %s: %s", document.document, reason)
            skipped.append(Skipped(document.document, str(reason)))
            continue
        chunks = chunk(article.text, chunking)
        if not chunks:
            log.warning("Skipped %s: no text left after cleaning", document.document)
            skipped.append(Skipped(document.document, "no text left after cleaning"))
            continue
        pending.extend(writer.add_article(article, chunks))
    return pending, skipped


def _embed_pending(
    writer: BuildWriter, embedder: Embedder, model: str, pending: list[PendingSentence], progress: bool
) -> int:
    """Give every pending sentence its vector, embedding only texts the base build has no vector for."""
    known = writer.known_vectors(model, (sentence.digest for sentence in pending))
    # Sorted by length so each batch pads little: unsorted batches ran at 76-78 % of raw model.encode.
    missing = sorted(
        {s.digest: s.text for s in pending if s.digest not in known}.items(), key=lambda item: len(item[1])
    )
    with embedding_progress(len(missing), "Embedding", "sentences", shown=progress) as bar:
        for start in range(0, len(missing), EMBED_BATCH):
            batch = missing[start : start + EMBED_BATCH]
            vectors = embedder.embed([text for _, text in batch])
            known.update(zip((d for d, _ in batch), vectors, strict=True))
            bar.update(len(batch))
    if pending:
        writer.add_vectors([s.id for s in pending], np.vstack([known[s.digest] for s in pending]))
    return len(missing)


__all__ = ["BuildReport", "Engine", "build_index", "check_question"]
