"""Per-question latency of a `citebot ask` session, as a person at a terminal waits for it.

Starts `citebot ask` on a pseudo-terminal over a copy of an index (the real model and reader), types
the first ``--questions`` questions of ``eval/dev.jsonl`` one after another, and times each from the
Enter key to the next prompt: the first pays for loading the reader, the others are the warm ask.

    python benchmarks/session.py [--index index] [--questions 20]
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import select
import shlex
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.cli.session import PROMPT  # noqa: E402
from bot.evaluation.machine import cpu_description  # noqa: E402

WAIT_SECONDS = 300


def wait_for_prompt(fd: int) -> None:
    seen = b""
    deadline = time.monotonic() + WAIT_SECONDS
    while not seen.endswith(PROMPT.encode()):
        if time.monotonic() > deadline or not select.select([fd], [], [], deadline - time.monotonic())[0]:
            raise SystemExit(f"no prompt after {WAIT_SECONDS} s; the session shows: {seen[-2000:]!r}")
        chunk = os.read(fd, 65536)
        if not chunk:
            raise SystemExit(f"the session ended; it shows: {seen[-2000:]!r}")
        seen += chunk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=REPO / "index")
    parser.add_argument("--questions", type=int, default=20)
    args = parser.parse_args()
    lines = (REPO / "eval" / "dev.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines if line.strip()][: args.questions]
    with tempfile.TemporaryDirectory() as work:
        index = Path(work) / "index"
        shutil.copytree(args.index, index)  # the session writes its history and the gaps there
        env = {**os.environ, "CITEBOT_INDEX": str(index), "CITEBOT_DOCUMENTS": str(REPO / "documents")}
        env |= {"TERM": "dumb", "HF_HUB_OFFLINE": "1"}
        started = time.perf_counter()
        pid, fd = pty.fork()
        if pid == 0:
            os.execve(sys.executable, [sys.executable, "-m", "bot", "ask"], env)
        try:
            wait_for_prompt(fd)
            opened = time.perf_counter() - started
            timings = []
            for question in questions:
                started = time.perf_counter()
                os.write(fd, question.encode() + b"\n")
                wait_for_prompt(fd)
                timings.append(time.perf_counter() - started)
            os.write(fd, b"\x04")
        finally:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(fd)
    warm = timings[1:]
    print("command:", shlex.join(["python", "benchmarks/session.py", *sys.argv[1:]]))
    print(f"CPU: {cpu_description()}")
    print(f"session start to the first prompt: {opened:.2f} s; first question: {timings[0]:.2f} s (loads the reader)")
    print(
        f"each question after the first, {len(warm)} questions: median {1000 * statistics.median(warm):.0f} ms, "
        f"p95 {1000 * float(np.percentile(warm, 95)):.0f} ms"
    )


if __name__ == "__main__":
    main()
