"""A light query path: the embedding model exported to ONNX at build time, run with onnxruntime.

Importing sentence-transformers (and torch) costs seconds, which a one-shot ``citebot ask`` cannot
afford. So each build carries its model in its query-model folder (``bot.store.layout``): the
transformer and its pooling and normalisation as one ONNX graph, plus the tokenizer. Queries then need
only onnxruntime and the tokenizers library; torch is imported at build time only, by ``export_onnx``.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bot.errors import ModelError
from bot.onnx_session import cpu_session
from bot.store.layout import query_model_folder

if TYPE_CHECKING:
    import onnxruntime
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

    from bot.embed.encoder import Embedder

log = logging.getLogger(__name__)

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
MANIFEST_FILE = "manifest.json"
FORMAT = 1
POOLINGS = ("mean", "cls")
ONNX_OPSET = 17
BATCH_SIZE = 64


@dataclass(frozen=True)
class Manifest:
    """How the exported model turns text into a vector, so the query side needs nothing else."""

    model: str
    dimension: int
    max_seq_length: int
    pooling: str
    lower_case: bool
    prompt: str
    inputs: tuple[str, ...]
    format: int = FORMAT

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        data = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
        return cls(**{**data, "inputs": tuple(data["inputs"])})

    def write(self, folder: Path) -> None:
        (folder / MANIFEST_FILE).write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")


def export_onnx(model: SentenceTransformer | str, destination: Path, name: str | None = None) -> Manifest:
    """Write ``model`` (a loaded SentenceTransformer or a name/path) as ONNX plus its tokenizer into
    ``destination``. The loaded modules are what the model's modules.json and 1_Pooling/config.json
    describe; only Transformer → Pooling (mean or cls) → optional Normalize pipelines are exported
    (vectors are always L2-normalised, as the Embedder protocol asks): anything else would embed
    differently from sentence-transformers, so it is refused."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Normalize, Pooling, Transformer
    from tokenizers import Tokenizer

    if isinstance(model, str):
        name = name or model
        model = SentenceTransformer(model, device="cpu")
    name = name or getattr(model.model_card_data, "base_model", None) or "sentence-transformers model"
    modules = list(model)
    kinds = [type(module).__name__ for module in modules]
    if (
        len(modules) not in (2, 3)
        or not isinstance(modules[0], Transformer)
        or not isinstance(modules[1], Pooling)
        or (len(modules) == 3 and not isinstance(modules[2], Normalize))
    ):
        raise ModelError(
            f"The model {name!r} is {' → '.join(kinds)}; only Transformer → Pooling → Normalize models can be "
            "exported for fast queries. Use such a model (e.g. sentence-transformers/all-MiniLM-L6-v2)."
        )
    transformer, pooling = modules[0], modules[1]
    if pooling.pooling_mode not in POOLINGS:
        raise ModelError(
            f"The model {name!r} pools with {pooling.pooling_mode!r}; only {' or '.join(POOLINGS)} pooling can be "
            "exported for fast queries. Use a model with mean or cls pooling."
        )
    tokenizer = transformer.tokenizer
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise ModelError(f"The model {name!r} has no fast tokenizer (tokenizer.json), which fast queries need.")
    inputs = tuple(n for n in ("input_ids", "attention_mask", "token_type_ids") if n in tokenizer.model_input_names)
    prompt = model.prompts.get(model.default_prompt_name, "") if model.default_prompt_name else ""
    manifest = Manifest(
        model=name,
        dimension=int(model.get_embedding_dimension() or 0),
        max_seq_length=int(transformer.max_seq_length),
        pooling=pooling.pooling_mode,
        lower_case=bool(getattr(transformer, "do_lower_case", False)),
        prompt=prompt or "",
        inputs=inputs,
    )

    class Encoder(torch.nn.Module):
        """The transformer, pooling and L2 normalisation as one graph."""

        def __init__(self, network: torch.nn.Module) -> None:
            super().__init__()
            self.network = network

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            named = dict(zip(inputs, tensors, strict=True))
            tokens = self.network(**named)[0]
            if manifest.pooling == "cls":
                pooled = tokens[:, 0]
            else:
                mask = named["attention_mask"].unsqueeze(-1).to(tokens.dtype)
                pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    if importlib.util.find_spec("onnx") is None:
        raise ModelError("Exporting the query model needs the onnx package. Run `pip install onnx`.")
    examples = ["A short example.", "A longer example sentence, so that the batch is padded."]
    encoded = tokenizer(examples, padding=True, return_tensors="pt")
    example = tuple(encoded[n] for n in inputs)
    destination.mkdir(parents=True, exist_ok=True)
    encoder = Encoder(transformer.auto_model).eval()
    dynamic = {n: {0: "batch", 1: "tokens"} for n in inputs} | {"embedding": {0: "batch"}}
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                encoder,
                example,
                str(destination / MODEL_FILE),
                input_names=list(inputs),
                output_names=["embedding"],
                dynamic_axes=dynamic,
                opset_version=ONNX_OPSET,
                dynamo=False,
            )
    except Exception as error:  # the exporter raises many kinds for graphs it cannot trace
        raise ModelError(
            f"Could not export {name!r} to ONNX ({error}). Use a model torch.onnx.export can trace, "
            "e.g. sentence-transformers/all-MiniLM-L6-v2."
        ) from None
    query_tokenizer = Tokenizer.from_str(backend.to_str())
    query_tokenizer.enable_truncation(manifest.max_seq_length)
    query_tokenizer.enable_padding(pad_id=tokenizer.pad_token_id or 0, pad_token=tokenizer.pad_token or "[PAD]")
    query_tokenizer.save(str(destination / TOKENIZER_FILE))
    manifest.write(destination)
    return manifest


def reuse_or_export(embedder: Embedder, model: str, previous: Path | None, build: Path) -> bool:
    """Give ``build`` its query model: hard-linked from ``previous`` (the published build) when that
    one was exported from the same model (no export, no extra disk), else exported now. False, with
    a warning, when the model cannot be exported: queries then fall back to sentence-transformers."""
    from bot.embed.encoder import SentenceTransformerEmbedder

    destination = query_model_folder(build)
    started = time.perf_counter()
    if previous is not None and _matches(query_model_folder(previous), model):
        try:
            _link_folder(query_model_folder(previous), destination)
            log.info("Reused the query model of %s", previous.name)
            return True
        except OSError as error:
            log.info("Could not reuse the query model of %s (%s); exporting it", previous.name, error)
            shutil.rmtree(destination, ignore_errors=True)
    if not isinstance(embedder, SentenceTransformerEmbedder):
        log.warning("No query model exported: the embedder %s is not a sentence-transformers model", embedder.name)
        return False
    staging = Path(tempfile.mkdtemp(prefix=".query-model-", dir=build))
    try:
        export_onnx(embedder.model, staging, name=model)
        staging.rename(destination)
    except ModelError as error:
        shutil.rmtree(staging, ignore_errors=True)
        log.warning("Queries will load sentence-transformers (slower start): %s", error)
        return False
    log.info("Exported the query model to ONNX in %.1f s", time.perf_counter() - started)
    return True


def _matches(folder: Path, model: str) -> bool:
    try:
        manifest = Manifest.read(folder)
    except (OSError, ValueError, TypeError, KeyError):
        return False
    return manifest.model == model and manifest.format == FORMAT and (folder / MODEL_FILE).is_file()


def _link_folder(source: Path, destination: Path) -> None:
    destination.mkdir()
    for path in source.iterdir():
        try:
            os.link(path, destination / path.name)
        except OSError:
            shutil.copy2(path, destination / path.name)


def query_model(build: Path, model: str) -> Path | None:
    """The build's exported query model, if it has one for ``model``."""
    folder = query_model_folder(build)
    return folder if _matches(folder, model) else None


def query_embedder(build: Path, model: str) -> Embedder:
    """The fast ONNX embedder when the build carries one for ``model``, else sentence-transformers."""
    from bot.embed.encoder import SentenceTransformerEmbedder

    folder = query_model(build, model)
    if folder is None:
        log.info("The index %s has no query model; loading sentence-transformers", build.name)
        return SentenceTransformerEmbedder(model)
    return OnnxEmbedder(folder)


class OnnxEmbedder:
    """The ``Embedder`` of an exported model: onnxruntime and tokenizers, no torch. The session is
    created on first use, so opening an engine stays cheap."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        try:
            self.manifest = Manifest.read(folder)
        except (OSError, ValueError, TypeError, KeyError) as error:
            raise ModelError(f"The query model in {folder} is unreadable ({error}). Run `citebot index`.") from None
        self.name = self.manifest.model
        self._session: onnxruntime.InferenceSession | None = None
        self._tokenizer: Tokenizer | None = None
        self._lock = threading.Lock()

    @property
    def dimension(self) -> int:
        return self.manifest.dimension

    def _loaded(self) -> tuple[onnxruntime.InferenceSession, Tokenizer]:
        with self._lock:
            if self._session is None or self._tokenizer is None:
                self._session, self._tokenizer = self._load()
            return self._session, self._tokenizer

    def _load(self) -> tuple[onnxruntime.InferenceSession, Tokenizer]:
        try:
            from tokenizers import Tokenizer

            session = cpu_session(self.folder / MODEL_FILE)
            tokenizer = Tokenizer.from_file(str(self.folder / TOKENIZER_FILE))
        except ImportError as error:
            raise ModelError(f"onnxruntime or tokenizers is not installed ({error}). Run `pip install .`.") from None
        except Exception as error:  # onnxruntime raises its own kinds for a damaged file
            raise ModelError(f"The query model in {self.folder} is damaged ({error}). Run `citebot index`.") from None
        return session, tokenizer

    def embed(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        session, tokenizer = self._loaded()
        prepared = [self.manifest.prompt + (t.lower() if self.manifest.lower_case else t) for t in texts]
        order = sorted(range(len(prepared)), key=lambda i: len(prepared[i]))
        vectors = np.empty((len(prepared), self.dimension), dtype=np.float32)
        for start in range(0, len(order), BATCH_SIZE):
            batch = order[start : start + BATCH_SIZE]
            encodings = tokenizer.encode_batch([prepared[i] for i in batch])
            columns = {
                "input_ids": [e.ids for e in encodings],
                "attention_mask": [e.attention_mask for e in encodings],
                "token_type_ids": [e.type_ids for e in encodings],
            }
            feed = {n: np.asarray(columns[n], dtype=np.int64) for n in self.manifest.inputs}
            vectors[batch] = session.run(["embedding"], feed)[0]
        return vectors
