"""`citebot ARGS...` in a process of its own, on the fast tier's stand-ins: the hashing embedder, no ONNX
export, engines without the reader. The session tests run it on a pseudo-terminal.

With CITEBOT_TEST_SLOW_WORD set, a question holding that word takes up to a minute (an answer to cancel
with Ctrl-C); it says "working" on stderr first, so a test knows the answer has started.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.cli import main
from bot.embed import onnx
from bot.embed.encoder import SentenceTransformerEmbedder
from bot.engine import Engine
from bot.errors import ModelError
from tests.fakes import HashingEmbedder

SLOW_SECONDS = 60


def no_onnx_export(*args: object, **kwargs: object) -> None:
    raise ModelError("the hashing embedder has no ONNX form")


class HashingSentenceModel:
    """What citebot uses of a SentenceTransformer, computed by the hashing embedder."""

    def __init__(self) -> None:
        self._embedder = HashingEmbedder()

    def get_embedding_dimension(self) -> int:
        return self._embedder.dimension

    def encode(self, texts: list[str], **options: object) -> object:
        return self._embedder.embed(texts)


def stand_ins() -> None:
    open_engine = Engine.open.__func__  # type: ignore[attr-defined]
    trace = Engine.trace
    slow_word = os.environ.get("CITEBOT_TEST_SLOW_WORD")

    def open_without_reader(cls: type[Engine], settings: object, embedder: object = None, reader: object = None):
        return open_engine(cls, settings, embedder, None)

    def slow_trace(self: Engine, question: str, *args: object, **kwargs: object):
        if slow_word and slow_word in question:
            sys.stderr.write("working\n")
            sys.stderr.flush()
            time.sleep(SLOW_SECONDS)
        return trace(self, question, *args, **kwargs)

    SentenceTransformerEmbedder._load = lambda self: HashingSentenceModel()  # type: ignore[method-assign]
    onnx.export_onnx = no_onnx_export
    Engine.open = classmethod(open_without_reader)  # type: ignore[method-assign, assignment]
    Engine.trace = slow_trace  # type: ignore[method-assign]


if __name__ == "__main__":
    stand_ins()
    main(sys.argv[1:], prog_name="citebot")
