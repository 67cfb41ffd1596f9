"""Index build time and warm per-question latency on the shipped articles.

Builds the index of ``documents/`` from nothing into a temporary folder (model load included, as
a first `citebot index` pays it), then asks every question of ``eval/dev.jsonl`` and
``eval/test.jsonl`` once to warm up and ``--rounds`` times more, timing each ``Engine.ask``.

    python benchmarks/latency.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.engine import Engine  # noqa: E402
from bot.evaluation.machine import cpu_description  # noqa: E402
from bot.pipeline import build_index  # noqa: E402
from bot.settings import Settings  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q * 100))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    questions = [
        json.loads(line)["question"]
        for name in ("dev.jsonl", "test.jsonl")
        for line in (REPO / "eval" / name).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    with tempfile.TemporaryDirectory() as work:
        settings = Settings(documents=REPO / "documents", index=Path(work) / "index", _env_file=None)  # type: ignore[call-arg]
        started = time.perf_counter()
        report = build_index(settings)
        build_seconds = time.perf_counter() - started
        engine = Engine.open(settings)
        for question in questions:
            engine.ask(question)
        timings = []
        for _ in range(args.rounds):
            for question in questions:
                started = time.perf_counter()
                engine.ask(question)
                timings.append(time.perf_counter() - started)
    print("command:", shlex.join(["python", "benchmarks/latency.py", *sys.argv[1:]]))
    print(f"judge: {engine.judge} (CITEBOT_READER decides); CPU: {cpu_description()}")
    print(f"index build from nothing: {build_seconds:.1f} s ({report.articles} articles, {report.passages} passages)")
    print(
        f"warm ask over {len(questions)} questions x {args.rounds}: "
        f"median {1000 * statistics.median(timings):.1f} ms, p95 {1000 * percentile(timings, 0.95):.1f} ms"
    )


if __name__ == "__main__":
    main()
