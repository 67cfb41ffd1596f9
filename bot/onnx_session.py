"""The one way citebot opens an onnxruntime model: on the CPU, quiet, with CITEBOT_THREADS threads.

Both the query embedder (``bot.embed.onnx``) and the reader (``bot.read.reader``) run through here, so
one setting decides how many cores a question may use.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnxruntime

THREADS_VARIABLE = "CITEBOT_THREADS"


def configured_threads() -> int:
    """CITEBOT_THREADS, else the cores this process may run on."""
    from bot.errors import SettingsError

    value = os.environ.get(THREADS_VARIABLE, "").strip()
    if not value:
        return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
    if not value.isdigit() or int(value) < 1:
        raise SettingsError(f"Invalid setting: {THREADS_VARIABLE}: {value!r} is not a whole number of threads ≥ 1.")
    return int(value)


def cpu_session(path: Path, threads: int | None = None) -> onnxruntime.InferenceSession:
    """An onnxruntime session on the CPU for one question at a time (``threads`` intra-op threads)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or configured_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
