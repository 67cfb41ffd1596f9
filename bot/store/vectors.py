"""A build's sentence vectors: a few immutable FAISS files ("segments"), keyed by sentence rowid.

A build links the segments of the build before it and adds one small segment for the sentences it
embedded, so publishing costs time in proportion to what changed. Removed sentences stay in their
segment but are listed in the build record and skipped by every search. Now and then the segments
are merged (see ``plan_segments``): into one exact index while small, into an HNSW graph from
``APPROXIMATE_FROM`` vectors on. Vectors are stored as float16: recall@10 against exact float32
search is measured by benchmarks/scale.py.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss  # its bundled stubs lack the HNSW and IDMap API: those lines carry type: ignore
import numpy as np

from bot.errors import REBUILD_HINT, IndexCorruptError
from bot.store.durable import fsync_file
from bot.store.schema import SegmentFile

log = logging.getLogger(__name__)

VECTORS = "vectors.faiss"
COMPACT = faiss.ScalarQuantizer.QT_fp16
# Above this many sentence vectors, questions search an HNSW graph instead of every vector. Measured by
# benchmarks/scale.py (one query, 1 thread): exact search costs 1.6 ms at 30k vectors and 14 ms at 160k;
# HNSW (M=32, efConstruction=64, efSearch=256) 0.3-0.7 ms with recall@10 0.995-0.997 against exact.
APPROXIMATE_FROM = 30_000
GRAPH_NEIGHBOURS = 32
GRAPH_CONSTRUCTION_DEPTH = 64
GRAPH_SEARCH_DEPTH = 256
# Small segments are merged once there are more than this many, or once they hold more vectors than
# MERGE_SHARE of the largest one; everything is rewritten once REWRITE_SHARE of the stored vectors
# are removed ones.
MAX_SEGMENTS = 8
MERGE_SHARE = 0.25
REWRITE_SHARE = 0.2


@dataclass(frozen=True)
class Hit:
    """A search result: a sentence or passage id and its score (higher is better)."""

    id: int
    score: float


def exact_index(dimension: int) -> faiss.Index:
    return faiss.IndexIDMap2(faiss.IndexScalarQuantizer(dimension, COMPACT, faiss.METRIC_INNER_PRODUCT))


def graph_index(dimension: int) -> faiss.Index:
    graph = faiss.IndexHNSWSQ(dimension, COMPACT, GRAPH_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)  # type: ignore[arg-type]
    graph.hnsw.efConstruction = GRAPH_CONSTRUCTION_DEPTH
    graph.hnsw.efSearch = GRAPH_SEARCH_DEPTH
    return faiss.IndexIDMap2(graph)


def filled(index: faiss.Index, ids: np.ndarray, vectors: np.ndarray) -> faiss.Index:
    if len(ids):
        if not index.is_trained:
            index.train(vectors)
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))
    return index


class Segment:
    """One segment file, loaded."""

    def __init__(self, folder: Path, file: SegmentFile) -> None:
        self.file = file
        self.path = folder / file.file
        try:
            self.index = faiss.read_index(str(self.path))
        except RuntimeError as error:  # FAISS's text names its C++ source: for the log, not the user
            log.info("FAISS could not read %s: %s", self.path, error)
            raise IndexCorruptError(f"The vectors in {folder} are damaged. {REBUILD_HINT}") from None
        if self.file.graph:
            faiss.downcast_index(self.index.index).hnsw.efSearch = GRAPH_SEARCH_DEPTH  # type: ignore[attr-defined]
        self.ids = faiss.vector_to_array(self.index.id_map).astype(np.int64)  # type: ignore[attr-defined]
        self.first, self.last = (int(self.ids.min()), int(self.ids.max())) if self.ids.size else (0, -1)
        if self.index.ntotal != file.count:
            raise IndexCorruptError(f"The vectors in {self.path} do not match their build. {REBUILD_HINT}")

    def vectors(self) -> np.ndarray:
        return self.index.index.reconstruct_n(0, self.index.ntotal)  # type: ignore[attr-defined]


class VectorSet:
    """The vectors of one build: its segments less its removed ids. Segments load on first use,
    so a build that only adds new text never reads the vectors it already has."""

    def __init__(self, folder: Path, files: Sequence[SegmentFile], removed: Sequence[int]) -> None:
        self.folder = folder
        self.files = tuple(files)
        self.removed = frozenset(removed)
        self._segments: list[Segment] | None = None
        # FAISS keeps raw pointers: the batch must live as long as the selector that wraps it.
        self._removed_batch = faiss.IDSelectorBatch(np.fromiter(self.removed, np.int64)) if self.removed else None
        self._skip_removed = faiss.IDSelectorNot(self._removed_batch) if self._removed_batch else None

    @property
    def stored(self) -> int:
        return sum(file.count for file in self.files)

    @property
    def count(self) -> int:
        return self.stored - len(self.removed)

    def segments(self) -> list[Segment]:
        if self._segments is None:
            self._segments = [Segment(self.folder, file) for file in self.files]
        return self._segments

    @property
    def dimension(self) -> int | None:
        segments = self.segments()
        return segments[0].index.d if segments else None

    def search(self, query: np.ndarray, limit: int) -> list[Hit]:
        """The ``limit`` nearest sentences by inner product, best first."""
        selector = self._skip_removed
        hits: list[Hit] = []
        for segment in self.segments():
            if segment.index.ntotal == 0:
                continue
            if segment.file.graph:
                parameters = faiss.SearchParametersHNSW(efSearch=GRAPH_SEARCH_DEPTH, sel=selector)  # type: ignore[attr-defined]
            else:
                parameters = faiss.SearchParameters(sel=selector) if selector else None  # type: ignore[call-arg]
            scores, ids = segment.index.search(
                query.reshape(1, -1), min(limit, segment.index.ntotal), params=parameters
            )
            hits.extend(Hit(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0)
        hits.sort(key=lambda hit: (-hit.score, hit.id))
        return hits[:limit]

    def reconstruct(self, ids: Sequence[int]) -> np.ndarray:
        """The vectors of these sentence ids, in order."""
        segments = self.segments()
        rows = []
        for sentence_id in ids:
            for segment in segments:
                if segment.first <= sentence_id <= segment.last:
                    try:
                        rows.append(segment.index.reconstruct(int(sentence_id)))
                        break
                    except RuntimeError:
                        continue
            else:
                raise KeyError(sentence_id)
        return np.vstack(rows) if rows else np.zeros((0, self.dimension or 0), dtype=np.float32)


def write_segments(
    base: VectorSet | None, removed: Sequence[int], ids: np.ndarray, vectors: np.ndarray, build: Path, number: int
) -> VectorSet:
    """Write the vectors of a new build into ``build``: the base's segments hard-linked, this
    build's vectors as one new segment; or, when the segments grew too many, too uneven or too
    stale, merged (see ``MAX_SEGMENTS``, ``MERGE_SHARE``, ``REWRITE_SHARE``)."""
    files = list(base.files) if base else []
    gone = set(base.removed if base else ()) | set(removed)
    stored = sum(file.count for file in files) + len(ids)
    live = stored - len(gone)
    graph = files[0] if files and files[0].graph else None
    largest = files[0].count if files else len(ids)
    small = sum(file.count for file in files[1:]) + len(ids)
    segments = len(files) + (1 if len(ids) else 0)
    if len(gone) > REWRITE_SHARE * stored or (live >= APPROXIMATE_FROM and graph is None):
        merged, _ = _merged(base, files, gone, ids, vectors, build, grow=None, approximate=live >= APPROXIMATE_FROM)
        return VectorSet(build, [merged], ())
    if segments > MAX_SEGMENTS or small > MERGE_SHARE * largest:
        merged, held = _merged(base, files, gone, ids, vectors, build, grow=graph, approximate=graph is not None)
        still = gone & set(held.tolist()) if graph is not None else set()
        return VectorSet(build, [merged], sorted(still))
    assert base is not None or not files
    for file in files:
        _link(base.folder / file.file if base else build / file.file, build / file.file)
    if len(ids):
        name = f"vectors-{number:06d}.faiss" if files else VECTORS
        write_index(filled(exact_index(vectors.shape[1]), ids, vectors), build / name)
        files.append(SegmentFile(name, len(ids), graph=False, size=(build / name).stat().st_size))
    return VectorSet(build, files, sorted(gone))


def _merged(
    base: VectorSet | None,
    files: Sequence[SegmentFile],
    gone: set[int],
    ids: np.ndarray,
    vectors: np.ndarray,
    build: Path,
    grow: SegmentFile | None,
    approximate: bool,
) -> tuple[SegmentFile, np.ndarray]:
    """One segment holding every live vector of ``files`` and the new ``vectors``: the graph
    ``grow`` grown by the others (HNSW cannot remove, so its removed ids stay listed), or a new
    index of them all. Returns it with the ids it holds."""
    segments = [Segment(base.folder, file) for file in files if file is not grow] if base else []
    parts = [(segment.ids, segment.vectors()) for segment in segments]
    if len(ids):
        parts.append((ids.astype(np.int64), vectors))
    all_ids = np.concatenate([part_ids for part_ids, _ in parts])
    all_vectors = np.vstack([part_vectors for _, part_vectors in parts])
    keep = ~np.isin(all_ids, np.fromiter(gone, np.int64, count=len(gone)))
    if grow is not None and base is not None:
        index = Segment(base.folder, grow).index
        faiss.downcast_index(index.index).hnsw.efConstruction = GRAPH_CONSTRUCTION_DEPTH  # type: ignore[attr-defined]
    else:
        dimension = all_vectors.shape[1]
        index = graph_index(dimension) if approximate else exact_index(dimension)
    filled(index, all_ids[keep], all_vectors[keep])
    write_index(index, build / VECTORS)
    merged = SegmentFile(VECTORS, int(index.ntotal), graph=approximate, size=(build / VECTORS).stat().st_size)
    return merged, faiss.vector_to_array(index.id_map)  # type: ignore[attr-defined]


def write_index(index: faiss.Index, path: Path) -> None:
    """Write ``index`` to ``path`` and fsync it, through a Python file: a full disk is then the ``OSError`` it
    is (and the one-line disk message), where FAISS's own writer raises a RuntimeError, or, for a small
    index, prints a warning and leaves a truncated file. The ``OSError`` names ``path``."""
    try:
        with open(path, "wb") as handle:
            faiss.write_index(index, faiss.PyCallbackIOWriter(handle.write))  # type: ignore[attr-defined]
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        raise OSError(error.errno, error.strerror, str(path)) from None


def _link(source: Path, target: Path) -> None:
    """Hard-link a segment of an earlier build into this one (a copy where links are refused)."""
    if source != target:
        try:
            os.link(source, target)
            return
        except OSError:
            shutil.copyfile(source, target)
    fsync_file(target)
