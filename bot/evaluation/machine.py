"""Which CPU a speed figure was measured on: int8 inference differs 3-4x between one with AVX-512 VNNI
and one with AVX2 only, so every figure citebot prints names it."""

from __future__ import annotations

import os
import platform
from functools import cache
from pathlib import Path


@cache
def cpu_description() -> str:
    """ "AMD EPYC, 2 cores, AVX2 (no AVX-512)": the model, the cores this process may use, the vector units."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        info = Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
    except OSError:
        return f"{platform.processor() or platform.machine()}, {cores} cores"
    model = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "unknown CPU")
    flags = set(next((line.split(":", 1)[1].split() for line in info if line.startswith("flags")), []))
    if "avx512f" in flags:
        units = "AVX-512" + (" VNNI" if "avx512_vnni" in flags else "") + (" AMX" if "amx_int8" in flags else "")
    elif "avx2" in flags:
        units = "AVX2 (no AVX-512)"
    else:
        units = "no AVX2"
    return f"{model}, {cores} cores, {units}"
