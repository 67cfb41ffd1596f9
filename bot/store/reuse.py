"""What a new build takes from the index before it, read without writing: which articles the base build
holds (by the content hash of their document), and the vectors earlier builds already have (by the
digest of a sentence's text), so that only new text is read and embedded."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from bot.errors import CitebotError
from bot.store.layout import LEGACY_DATABASE
from bot.store.reading import connect_read_only
from bot.store.schema import VISIBLE, BuildRecord, current_build, placeholders
from bot.store.vectors import VectorSet

BATCH = 500


def indexed_documents(base: Path | None) -> dict[str, str]:
    """Document to article id for every article of ``base`` (none without a base)."""
    if base is None:
        return {}
    record = BuildRecord.read(base)
    with contextlib.closing(connect_read_only(record.database(base))) as connection:
        rows = connection.execute(f"SELECT a.document, a.id FROM articles a WHERE {VISIBLE}", (record.number,))
        return dict(rows.fetchall())


def base_vectors(base: Path, digests: Sequence[str]) -> dict[str, np.ndarray]:
    """The vectors ``base`` has for sentences with these digests (it was built with the same model)."""
    record = BuildRecord.read(base)
    found: dict[str, int] = {}
    with contextlib.closing(connect_read_only(record.database(base))) as connection:
        for batch in _batches(list(dict.fromkeys(digests)), BATCH):
            found.update(
                connection.execute(
                    "SELECT s.digest, s.id FROM sentences s JOIN chunks c ON c.id = s.chunk_id "
                    f"JOIN articles a ON a.row = c.article WHERE {VISIBLE} AND s.digest IN ({placeholders(batch)})",
                    (record.number, *batch),
                ).fetchall()
            )
    if not found:
        return {}
    vectors = VectorSet(base, record.segments, record.removed).reconstruct(list(found.values()))
    return dict(zip(found, vectors, strict=True))


def legacy_vectors(index_dir: Path, model: str, digests: Sequence[str]) -> dict[str, np.ndarray]:
    """Vectors kept by an index written before stores were shared (its embedding cache), so that
    rebuilding it into the new layout embeds nothing it already had."""
    with contextlib.suppress(CitebotError):
        build = current_build(index_dir)
        if build is None or not (build / LEGACY_DATABASE).is_file() or not digests:
            return {}
        wanted = set(digests)
        found: dict[str, np.ndarray] = {}
        legacy = sqlite3.connect(f"file:{build / LEGACY_DATABASE}?mode=ro", uri=True)
        with contextlib.closing(legacy), contextlib.suppress(sqlite3.Error):
            for full_digest, vector in legacy.execute(
                "SELECT digest, vector FROM embeddings WHERE model = ?", (model,)
            ):
                if full_digest[:32] in wanted:
                    found[full_digest[:32]] = np.frombuffer(vector, dtype=np.float32)
        return found
    return {}


def _batches(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
