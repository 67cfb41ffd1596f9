"""The whole flow in a few readable lines: ``build_index`` here, and ``Engine.ask`` (``bot.engine``)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bot.embed.encoder import Embedder, SentenceTransformerEmbedder
from bot.embed.onnx import query_embedder, reuse_or_export
from bot.engine import Engine, check_question
from bot.errors import (
    DocumentsError,
    IndexCorruptError,
    IndexMissingError,
)
from bot.ingest.chunk import ChunkingSettings, chunk
from bot.ingest.clean import clean
from bot.ingest.documents import FoundDocument, Skipped, UnreadableDocument, load_article, scan_documents
from bot.models import IndexInfo
from bot.settings import Settings
from bot.store.builds import BuildWriter
from bot.store.reading import Store

log = logging.getLogger(__name__)

EMBED_BATCH = 256
# What `citebot eval eval/dev.jsonl` suggests (0.1761; see calibrate() in bot/evaluate.py for the
# objective). Recorded in each index at build time; CITEBOT_MIN_SCORE overrides it.
CALIBRATED_MIN_SCORE = 0.18


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

    def summary(self) -> str:
        line = (
            f"Indexed {self.articles} articles, {self.passages} passages in {self.seconds:.1f} s: "
            f"{self.added} added, {self.changed} changed, {self.removed} removed, {self.unchanged} unchanged; "
            f"{self.embedded} sentences embedded"
        )
        if self.skipped:
            line += f"; skipped {len(self.skipped)}: " + ", ".join(s.document for s in self.skipped)
        return line + "."


def build_index(settings: Settings, progress: bool = False, embedder: Embedder | None = None) -> BuildReport:
    """Bring the index up to date with the documents folder, then publish it in one atomic step.

    Starting from a copy of the published build (when it was built the same way), only new or
    changed articles are cleaned, chunked and embedded; removed ones are dropped.
    """
    started = time.perf_counter()
    chunking = ChunkingSettings()
    found = {document.document: document for document in scan_documents(settings.documents)}
    base = _reusable_build(settings, chunking)
    # Updating a build that carries the ONNX query model embeds with it: same vectors (cosine >= 0.999,
    # tested), and no torch import, which is most of the time a small `citebot index` or `add` takes.
    embedder = embedder or (
        query_embedder(base, settings.model) if base else SentenceTransformerEmbedder(settings.model)
    )
    writer = BuildWriter(settings.index, 0 if base else embedder.dimension, base)
    try:
        previous = writer.articles()
        removed = [d for d in previous if d not in found]
        changed = [d for d in previous if d in found and found[d].id != previous[d]]
        added = [d for d in found if d not in previous]
        writer.remove_articles(removed + changed)
        pending, skipped = _add_articles(writer, [found[d] for d in sorted(changed + added)], chunking)
        embedded = _embed_pending(writer, embedder, settings.model, pending, progress)
        articles, passages, sentences = writer.counts()
        if not articles:
            raise DocumentsError(
                f"No readable articles in {settings.documents}. Add .txt, .md, .html or .pdf files"
                + (f" (skipped: {', '.join(s.document for s in skipped)})." if skipped else ".")
            )
        info = IndexInfo(
            model=settings.model,
            dimension=writer.vectors.d,
            chunking=chunking.describe(),
            min_score=settings.min_score if settings.min_score is not None else CALIBRATED_MIN_SCORE,
            built_at=datetime.now(UTC).isoformat(timespec="seconds"),
            articles=articles,
            passages=passages,
            sentences=sentences,
        )
        reuse_or_export(embedder, settings.model, settings.index, writer.build)
        writer.finish(info)
        writer.publish()
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


def _reusable_build(settings: Settings, chunking: ChunkingSettings) -> Path | None:
    """The published build, when it was made with this model and chunking and can be read."""
    try:
        store = Store.open(settings.index)
    except (IndexMissingError, IndexCorruptError):
        return None
    if store.info.model != settings.model or store.info.chunking != chunking.describe():
        return None
    return store.build


def _add_articles(
    writer: BuildWriter, documents: list[FoundDocument], chunking: ChunkingSettings
) -> tuple[list[tuple[int, str, str]], list[Skipped]]:
    """Load, clean and chunk these articles into the build; the sentences to embed, and what was skipped."""
    pending: list[tuple[int, str, str]] = []
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
    writer: BuildWriter, embedder: Embedder, model: str, pending: list[tuple[int, str, str]], progress: bool
) -> int:
    """Give every pending sentence its vector, embedding only texts the build has no vector for."""
    known = writer.cached_embeddings(model, (d for _, d, _ in pending))
    # Sorted by length so each batch pads little: unsorted batches ran at 76-78 % of raw model.encode.
    missing = sorted({d: text for _, d, text in pending if d not in known}.items(), key=lambda item: len(item[1]))
    with tqdm(total=len(missing), unit="sentence", desc="Embedding", disable=not progress or None) as bar:
        for start in range(0, len(missing), EMBED_BATCH):
            batch = missing[start : start + EMBED_BATCH]
            vectors = embedder.embed([text for _, text in batch])
            writer.cache_embeddings(model, [d for d, _ in batch], vectors)
            known.update(zip((d for d, _ in batch), vectors, strict=True))
            bar.update(len(batch))
    if pending:
        writer.add_vectors([i for i, _, _ in pending], np.vstack([known[d] for _, d, _ in pending]))
    return len(missing)


__all__ = ["BuildReport", "Engine", "build_index", "check_question"]
