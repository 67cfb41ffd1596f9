"""Drive the Discord bot through the loopback stand-in: throughput and latency under 1 and 20 askers.

Builds an index of the articles (in a temporary folder; your index/ is not touched), starts the stand-in
of Discord's API and the real bot with the real engine in this process, then sends ``/ask``
interactions from N concurrent askers. Prints questions answered per second, acknowledgement latency
(INTERACTION_CREATE -> deferral) and answer latency (INTERACTION_CREATE -> the answer shown), p50/p95.

    python benchmarks/discord_load.py                     # 1 and 20 askers, 40 questions each
    python benchmarks/discord_load.py --questions 100 --concurrency 1 5 20

Run it as a script from the repository root (pysbd installs a stray ``benchmarks`` package).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pydantic import SecretStr  # noqa: E402

from bot.chat.bot import CitebotBot, configure_endpoints  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.library import Library  # noqa: E402
from bot.pipeline import build_index  # noqa: E402
from bot.settings import ChatSettings, Settings  # noqa: E402
from tests.discord_standin import DiscordStandIn, InteractionRecord  # noqa: E402

QUESTIONS = (
    "who denied the Wagner claims?",
    "How many Wagner contractors are in Libya according to the UN report?",
    "What did Lavrov say about the UN special envoy?",
    "What aircraft did Russia send to Libya?",
    "what is the best pizza recipe in Naples?",
)


async def run_level(standin: DiscordStandIn, concurrency: int, total: int) -> dict[str, float]:
    """``total`` questions from ``concurrency`` askers, each asking its next question once answered."""
    records: list[InteractionRecord] = []
    queue = list(range(total))

    async def asker(number: int) -> None:
        user = standin.user(f"bench{concurrency}-{number}")
        while queue:
            index = queue.pop()
            record = await standin.slash("ask", {"question": QUESTIONS[index % len(QUESTIONS)]}, user=user)
            records.append(record)
            await standin.wait_answered(record, timeout=300)

    started = time.monotonic()
    await asyncio.gather(*(asker(n) for n in range(concurrency)))
    wall = time.monotonic() - started
    acks = [r.ack_latency for r in records if r.ack_latency is not None]
    answers = [r.answer_latency for r in records if r.answer_latency is not None]
    late = sum(1 for r in records if r.errors or (r.ack_latency or 99) > 3)
    return {
        "questions": len(records),
        "per_second": len(records) / wall,
        "ack_p50": float(np.percentile(acks, 50)),
        "ack_p95": float(np.percentile(acks, 95)),
        "answer_p50": float(np.percentile(answers, 50)),
        "answer_p95": float(np.percentile(answers, 95)),
        "late": late,
    }


async def main(arguments: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="citebot-discord-bench-"))
    try:
        shutil.copytree(arguments.documents, work / "documents")
        base = Settings(documents=work / "documents", index=work / "index", _env_file=None)
        report = build_index(base)
        engine = Engine.open(base)
        engine.embedder.embed(["warm up"])
        standin = DiscordStandIn()
        await standin.start()
        chat = ChatSettings(
            discord_api=standin.api_url,
            discord_gateway=standin.gateway_url,
            discord_token=SecretStr(standin.token),
            cooldown=0,
            _env_file=None,
        )
        configure_endpoints(chat)
        bot = CitebotBot(Library(base, engine), chat, workers=arguments.workers, guild_ready_timeout=0.05)
        task = asyncio.create_task(bot.start(standin.token))
        await asyncio.wait_for(bot.wait_until_ready(), 60)
        await run_level(standin, 1, min(3, arguments.questions))  # warm-up, not reported
        print(f"index: {report.articles} articles, {report.passages} passages; worker threads: {arguments.workers}")
        print(
            f"{'askers':>6} {'questions':>9} {'q/s':>6} {'ack p50':>8} {'ack p95':>8} "
            f"{'ans p50':>8} {'ans p95':>8} late"
        )
        for concurrency in arguments.concurrency:
            row = await run_level(standin, concurrency, arguments.questions)
            print(
                f"{concurrency:>6} {row['questions']:>9.0f} {row['per_second']:>6.2f} "
                f"{row['ack_p50'] * 1000:>6.0f}ms {row['ack_p95'] * 1000:>6.0f}ms "
                f"{row['answer_p50']:>7.2f}s {row['answer_p95']:>7.2f}s {row['late']:>4.0f}"
            )
        refused = standin.refused()
        print(f"payloads Discord would refuse: {len(refused)}")
        await bot.close()
        await task
        await standin.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("command:", shlex.join(["python", *sys.argv]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=Path, default=ROOT / "documents")
    parser.add_argument("--questions", type=int, default=40, help="questions per concurrency level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 20])
    parser.add_argument("--workers", type=int, default=1, help="threads running engine.ask (the bot uses 1)")
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main(parser.parse_args()))
