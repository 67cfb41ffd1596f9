"""How many of the first cut's candidates the reader must read: quality and latency against the count.

The reader is most of a question's time, and it reads ``bot.read.stage.READ_CANDIDATES`` sentences
(plus the neighbours of the first cut's best). This asks every question of ``eval/dev.jsonl`` (and,
for information only, ``eval/test.jsonl``) in hybrid mode with each count, at the shipped thresholds,
and prints hit@1, hit@3, answered, abstained and warm latency. Choose on dev: the smallest count
whose dev figures equal the shipped count's.

    python benchmarks/read_candidates.py [--counts 2 3 4 6 8]
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import bot.read.stage as stage  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.evaluation.machine import cpu_description  # noqa: E402
from bot.evaluation.questions import load_questions  # noqa: E402
from bot.evaluation.run import run_eval  # noqa: E402
from bot.pipeline import build_index  # noqa: E402
from bot.retrieve.search import RetrievalMode  # noqa: E402
from bot.settings import Settings  # noqa: E402


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", type=int, nargs="+", default=[2, 3, 4, 6, 8])
    args = parser.parse_args()
    shipped = stage.READ_CANDIDATES
    with tempfile.TemporaryDirectory() as work:
        settings = Settings(documents=REPO / "documents", index=Path(work) / "index", _env_file=None)  # type: ignore[call-arg]
        build_index(settings)
        engine = Engine.open(settings)
        print("command:", shlex.join(["python", "benchmarks/read_candidates.py", *sys.argv[1:]]))
        print(f"CPU: {cpu_description()}; judge {engine.judge}; answer threshold {engine.min_score:.4g}")
        print(
            f"{'set':<6}{'read':>5}{'hit@1':>8}{'hit@3':>8}{'answered':>10}{'near-ab':>9}{'off-ab':>8}"
            f"{'p50 ms':>9}{'p95 ms':>9}"
        )
        for name in ("dev", "test"):
            questions = load_questions(REPO / "eval" / f"{name}.jsonl")
            for count in args.counts:
                stage.READ_CANDIDATES = count
                [figures] = run_eval(engine, questions, [RetrievalMode.HYBRID]).modes
                marker = " (shipped)" if count == shipped else ""
                print(
                    f"{name:<6}{count:>5}{percent(figures.hit_at_1):>8}{percent(figures.hit_at_3):>8}"
                    f"{percent(figures.answered_rate):>10}{percent(figures.abstention_near_topic):>9}"
                    f"{percent(figures.abstention_off_topic):>8}{figures.latency_p50_ms:>9.1f}"
                    f"{figures.latency_p95_ms:>9.1f}{marker}"
                )
        stage.READ_CANDIDATES = shipped


if __name__ == "__main__":
    main()
