"""The real bot, the real engine and model, and the real discord.py client against the loopback stand-in.

One index and one Engine serve the whole module (the model costs seconds to load), so every test that
uses them is in the slow tier; the Discord fault tests in ``test_faults.py`` use the fast engine. The
stand-in and the bot run on an event loop in a background thread; each test drives them with
``world.run(coroutine)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import signal
import sys
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import discord
import pytest
from pydantic import SecretStr

from bot.chat.bot import CitebotBot, DiscordTokenError, configure_endpoints, run_discord, serve
from bot.chat.cogs.ask import ALREADY_WAITING, strip_mentions
from bot.chat.cogs.library import source_pages
from bot.chat.cooldown import Cooldown
from bot.feedback import feedback_summary
from bot.models import Answer, IndexedArticle, IndexInfo
from bot.pipeline import Engine, build_index
from bot.settings import ChatSettings, Settings
from tests.discord_standin import EPHEMERAL, DiscordStandIn, message_problems
from tests.test_render_discord import bold_segments

T = TypeVar("T")
REPO = Path(__file__).resolve().parent.parent
WAGNER = "who denied the Wagner claims?"
MANY_SOURCES = "who is Haftar?"  # more than three sources: a "More sources" button
DENIALS = ("denied", "rejected", "dismissed")
MANAGE_GUILD = 1 << 5

MENTIONS_ARTICLE = """---
title: Bridge closure announced
url: https://example.org/news/bridge-closure
date: 2024-03-02
---
The council met on Monday evening.

Mayor Ilse Brandvold told @everyone at the <@&123456789012345678> meeting that the Harbour Bridge \
would close for repairs on Friday. Residents asked @here about detours.
"""

LONG_SENTENCE = (
    "The orchard cooperative reported that its cider apple harvest had doubled after the new irrigation canal opened."
)


def long_article() -> str:
    filler = [f"Paragraph filler sentence number {i} talks about weather and tides." for i in range(80)]
    paragraph = " ".join([*filler[:40], LONG_SENTENCE, *filler[40:]])
    assert len(paragraph) > 5000 and "\n" not in paragraph
    return f"---\ntitle: One very long paragraph\nurl: https://example.org/long\n---\n{paragraph}\n"


class RecordingEngine:
    """The real Engine, with a log of what it was asked: how the tests see thread context."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.calls: list[tuple[str, str | None]] = []

    @property
    def info(self) -> Any:
        return self.engine.info

    @property
    def embedder(self) -> Any:
        return self.engine.embedder

    def ask(self, question: str, context: str | None = None) -> Answer:
        self.calls.append((question, context))
        return self.engine.ask(question, context=context)

    def articles(self) -> tuple[IndexedArticle, ...]:
        return self.engine.articles()

    def refresh(self) -> bool:
        return self.engine.refresh()


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@dataclass
class World:
    loop: asyncio.AbstractEventLoop
    standin: DiscordStandIn
    bot: CitebotBot
    engine: RecordingEngine
    settings: Settings
    chat: ChatSettings
    documents: Path
    logs: Collect
    task: asyncio.Task[None] | None = None
    users: list[dict[str, Any]] = field(default_factory=list)

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 90) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def user(self, name: str) -> dict[str, Any]:
        """A fresh member per test, so the per-user cooldown never links two tests."""
        return self.standin.user(name)


@pytest.fixture(scope="module")
def discord_articles(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Path:
    """The shipped articles, one full of mentions and one very long, indexed once; each test copies them."""
    root = tmp_path_factory.mktemp("discord")
    documents = root / "documents"
    shutil.copytree(REPO / "documents", documents)
    (documents / "bridge.md").write_text(MENTIONS_ARTICLE, encoding="utf-8")
    (documents / "long.md").write_text(long_article(), encoding="utf-8")
    build_index(Settings(documents=documents, index=root / "index", _env_file=None), embedder=embedder)
    return root


@pytest.fixture
def world(discord_articles: Path, tmp_path: Path, embedder: Any) -> Iterator[World]:
    """A bot and a stand-in of Discord of this test's own, over its own copy of the index: no test
    sees what another did (votes, cooldowns, rebuilds, recorded requests)."""
    shutil.copytree(discord_articles, tmp_path / "world", symlinks=True)
    documents = tmp_path / "world" / "documents"
    base = Settings(documents=documents, index=tmp_path / "world" / "index", _env_file=None)
    engine = RecordingEngine(Engine.open(base, embedder))

    logs = Collect()
    logging.getLogger().addHandler(logs)
    discord_logger = logging.getLogger("discord")
    previous_level = discord_logger.level
    discord_logger.setLevel(logging.DEBUG)

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="discord-tests", daemon=True)
    thread.start()

    async def start() -> World:
        standin = DiscordStandIn()
        await standin.start()
        chat = ChatSettings(
            discord_api=standin.api_url,
            discord_gateway=standin.gateway_url,
            discord_token=SecretStr(standin.token),
            ask_channels="ask-citebot",
            _env_file=None,  # type: ignore[call-arg]
        )
        configure_endpoints(chat)
        bot = CitebotBot(base, chat, engine, guild_ready_timeout=0.05)
        result = World(loop, standin, bot, engine, base, chat, documents, logs)
        result.task = asyncio.create_task(bot.start(standin.token))
        await asyncio.wait_for(bot.wait_until_ready(), 30)
        return result

    created = asyncio.run_coroutine_threadsafe(start(), loop).result(60)
    yield created

    async def stop() -> None:
        await created.bot.close()
        if created.task is not None:
            with contextlib.suppress(Exception):
                await created.task
        await created.standin.stop()

    created.run(stop())
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()
    logging.getLogger().removeHandler(logs)
    discord_logger.setLevel(previous_level)


@contextlib.contextmanager
def overridden(world: World, **changes: Any) -> Iterator[None]:
    """The cogs read settings per message, so a test can switch a behaviour on for its duration."""
    original = world.bot.chat
    world.bot.chat = original.model_copy(update=changes)
    try:
        yield
    finally:
        world.bot.chat = original


def description(message: dict[str, Any]) -> str:
    return str(message["embeds"][0]["description"]) if message.get("embeds") else ""


def assert_all_payloads_valid(standin: DiscordStandIn) -> None:
    assert standin.refused() == [], [(r.method, r.path, r.response) for r in standin.refused()]
    for recorded in standin.requests:
        if isinstance(recorded.json, dict):
            body = recorded.json.get("data", recorded.json) if "/callback" in recorded.path else recorded.json
            assert message_problems(body) == [], recorded.path
            if body.get("content") or body.get("embeds"):
                assert body.get("allowed_mentions", {}).get("parse") == [], recorded.path


# ---- login --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_login_syncs_commands_and_sees_the_guild(world: World) -> None:
    names = {c["name"] for c in world.standin.commands}
    assert names >= {"ask", "reindex", "sources"}
    ask = next(c for c in world.standin.commands if c["name"] == "ask")
    assert ask["options"][0]["name"] == "question" and ask["options"][0]["required"] is True
    reindex = next(c for c in world.standin.commands if c["name"] == "reindex")
    assert reindex["default_member_permissions"] == str(MANAGE_GUILD)
    assert world.bot.get_guild(int(world.standin.guild_id)) is not None
    assert world.standin.identifies >= 1
    events = [p.get("t") for p in world.standin.gateway_sent if p.get("op") == 0]
    assert events[:2] == ["READY", "GUILD_CREATE"]
    assert world.bot.allowed_mentions is not None and world.bot.allowed_mentions.to_dict()["parse"] == []


# ---- asking -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_mention_is_answered_with_a_bold_cited_denial(world: World) -> None:
    async def body() -> dict[str, Any]:
        asked = await world.standin.send_message(WAGNER, mention_bot=True, author=world.user("m1"))
        return await world.standin.wait_reply(asked)

    reply = world.run(body())
    text = description(reply)
    sentences = bold_segments(text)[1::2]
    assert any(word in sentence for sentence in sentences for word in DENIALS), text
    assert text.startswith("**1.** Israel has joined the US propaganda campaign"), "title, unlinked: no URL"
    assert reply["embeds"][0]["title"] == WAGNER
    assert "articles indexed" in reply["embeds"][0]["footer"]["text"]
    assert reply["allowed_mentions"]["parse"] == []
    custom_ids = [c["custom_id"] for row in reply["components"] for c in row["components"]]
    assert custom_ids[0].startswith("citebot:vote:up:") and custom_ids[1].startswith("citebot:vote:down:")
    assert world.engine.calls[-1] == (WAGNER, None), "the mention is stripped from the question"


@pytest.mark.slow
def test_slash_ask_is_deferred_then_answered_by_a_follow_up(world: World) -> None:
    async def body() -> Any:
        record = await world.standin.slash("ask", {"question": WAGNER}, user=world.user("s1"))
        return record, await world.standin.wait_answered(record)

    record, answer = world.run(body())
    assert record.ack_type == 5 and record.errors == [], "deferred inside the stand-in's 3 s window"
    assert any(word in description(answer) for word in DENIALS)
    followups = [
        r for r in world.standin.requests if r.path.startswith(f"/api/v10/webhooks/{world.standin.application_id}/")
    ]
    assert followups and followups[-1].query.get("wait") in ("1", "true")


@pytest.mark.slow
def test_off_topic_question_gets_the_abstention(world: World) -> None:
    async def body() -> dict[str, Any]:
        asked = await world.standin.send_message(
            "what is the best pizza recipe in Naples?", mention_bot=True, author=world.user("o1")
        )
        return await world.standin.wait_reply(asked)

    reply = world.run(body())
    assert reply["embeds"] == [] and reply["components"] == []
    assert "don't cover" in reply["content"]


@pytest.mark.slow
def test_an_empty_mention_gets_a_hint(world: World) -> None:
    async def body() -> dict[str, Any]:
        asked = await world.standin.send_message("", mention_bot=True, author=world.user("e1"))
        return await world.standin.wait_reply(asked)

    reply = world.run(body())
    assert "/ask" in reply["content"] and "question" in reply["content"]


@pytest.mark.slow
def test_ask_channel_needs_no_mention_and_bots_are_ignored(world: World) -> None:
    other_bot = world.standin.user("otherbot")
    other_bot["bot"] = True

    async def body() -> tuple[dict[str, Any], dict[str, Any]]:
        ignored = await world.standin.send_message(WAGNER, channel_id=world.standin.ask_channel_id, author=other_bot)
        asked = await world.standin.send_message(
            "who denied the allegations?", channel_id=world.standin.ask_channel_id, author=world.user("c1")
        )
        return ignored, await world.standin.wait_reply(asked)

    ignored, reply = world.run(body())
    assert reply["embeds"]
    assert world.standin.replies_to(ignored["id"]) == []
    answers_in_channel = world.standin.bot_messages_in(world.standin.ask_channel_id)
    assert len(answers_in_channel) == 1, "the bot does not answer its own answer in the ask channel"


@pytest.mark.slow
def test_a_question_inside_the_cooldown_waits_its_turn_and_a_third_is_refused(world: World) -> None:
    user = world.user("k1")

    async def body() -> Any:
        asked = [await world.standin.slash("ask", {"question": WAGNER}, user=user) for _ in range(3)]
        return asked, [await world.standin.wait_answered(record) for record in asked]

    (_, second, third), (_, waited, refused) = world.run(body())
    assert second.ack_type == 5 and any(word in description(waited) for word in DENIALS)
    assert third.ack_type == 4 and third.ack_flags & EPHEMERAL and refused["content"] == ALREADY_WAITING


# ---- buttons and feedback -----------------------------------------------------------------------


@pytest.mark.slow
def test_thumbs_up_writes_a_feedback_row_and_more_sources_is_ephemeral(world: World) -> None:
    async def body() -> Any:
        asked = await world.standin.send_message(MANY_SOURCES, mention_bot=True, author=world.user("b1"))
        reply = await world.standin.wait_reply(asked)
        ids = [c["custom_id"] for row in reply["components"] for c in row["components"]]
        voter = world.user("voter")
        vote = await world.standin.click(reply, ids[0], user=voter)
        thanks = await world.standin.wait_answered(vote)
        more = await world.standin.click(reply, next(i for i in ids if i.startswith("citebot:more:")), user=voter)
        return reply, vote, thanks, more, await world.standin.wait_answered(more)

    reply, vote, thanks, more, shown = world.run(body())
    assert vote.ack_flags & EPHEMERAL and "Thanks" in thanks["content"]
    votes = world.bot.feedback.votes()
    assert votes and votes[-1].question == MANY_SOURCES and votes[-1].vote == 1
    assert len(votes[-1].user_hash) == 64 and "sentence" in votes[-1].citations
    assert more.ack_type == 5 and more.ack_flags & EPHEMERAL
    assert shown["flags"] & EPHEMERAL and shown["embeds"] and numbered_after(description(reply), description(shown))
    assert "👍" in feedback_summary(world.settings)


@pytest.mark.slow
def test_more_sources_still_works_after_a_restart_forgot_the_answer(world: World) -> None:
    async def body() -> tuple[dict[str, Any], dict[str, Any]]:
        asked = await world.standin.send_message(MANY_SOURCES, mention_bot=True, author=world.user("r1"))
        reply = await world.standin.wait_reply(asked)
        world.bot._recent.clear()  # what a restart does to the in-memory cache
        more_id = next(
            c["custom_id"] for row in reply["components"] for c in row["components"] if "more" in c["custom_id"]
        )
        return reply, await world.standin.wait_answered(await world.standin.click(reply, more_id))

    reply, shown = world.run(body())
    assert shown["embeds"] and numbered_after(description(reply), description(shown))


def numbered_after(first: str, more: str) -> bool:
    """More sources go on numbering where the answer stopped (one number per article)."""
    answer_numbers = [int(n) for n in re.findall(r"\*\*(\d+)\.\*\*", first)]
    more_numbers = [int(n) for n in re.findall(r"\*\*(\d+)\.\*\*", more)]
    return bool(answer_numbers and more_numbers) and min(more_numbers) == max(answer_numbers) + 1


# ---- safety and limits ----------------------------------------------------------------------------


@pytest.mark.slow
def test_mentions_in_an_article_ping_nobody(world: World) -> None:
    async def body() -> dict[str, Any]:
        asked = await world.standin.send_message(
            "when will the Harbour Bridge close for repairs?", mention_bot=True, author=world.user("p1")
        )
        return await world.standin.wait_reply(asked)

    reply = world.run(body())
    text = description(reply)
    assert "Harbour Bridge" in text
    assert "[Bridge closure announced](https://example.org/news/bridge-closure#:~:text=" in text
    assert "· 2024-03-02" in text
    assert "@everyone" not in text and "<@&123456789012345678>" not in text
    assert "@\u200beveryone" in text
    assert reply["allowed_mentions"] == {"parse": [], "replied_user": False}
    assert reply["pinged"] == {"everyone": False, "users": [], "roles": []}


@pytest.mark.slow
def test_a_5000_character_paragraph_keeps_every_payload_within_limits(world: World) -> None:
    async def body() -> dict[str, Any]:
        asked = await world.standin.send_message(
            "what happened to the cider apple harvest after the irrigation canal opened?",
            mention_bot=True,
            author=world.user("l1"),
        )
        return await world.standin.wait_reply(asked)

    reply = world.run(body())
    assert "cider apple harvest" in description(reply)
    assert_all_payloads_valid(world.standin)


# ---- faults and load ------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_bot_resumes_after_a_dropped_socket_and_answers_what_was_sent_meanwhile(world: World) -> None:
    async def body() -> dict[str, Any]:
        resumes = world.standin.resumes
        await world.standin.drop_gateway()
        asked = await world.standin.send_message(WAGNER, mention_bot=True, author=world.user("d1"))
        reply = await world.standin.wait_reply(asked, timeout=30)
        assert world.standin.resumes == resumes + 1
        return reply

    reply = world.run(body())
    assert any(word in description(reply) for word in DENIALS)


@pytest.mark.slow
def test_a_429_on_the_reply_route_is_waited_out(world: World) -> None:
    async def body() -> dict[str, Any]:
        world.standin.inject_fault("POST", rf"/channels/{world.standin.channel_id}/messages$", retry_after=0.5)
        asked = await world.standin.send_message(WAGNER, mention_bot=True, author=world.user("q1"))
        return await world.standin.wait_reply(asked)

    reply = world.run(body())
    assert reply["embeds"]
    posts = [r.status for r in world.standin.requests if r.method == "POST" and r.path.endswith("/messages")]
    assert 429 in posts and posts[-1] == 200


@pytest.mark.slow
def test_twenty_concurrent_asks_are_all_acknowledged_in_time_and_answered(world: World) -> None:
    questions = [
        WAGNER,
        "who denied the allegations?",
        "what is the best pizza recipe in Naples?",
        "Who is Haftar?",
    ]

    async def body() -> list[Any]:
        records = await asyncio.gather(
            *(world.standin.slash("ask", {"question": questions[i % 4]}, user=world.user(f"u{i}")) for i in range(20))
        )
        answers = await asyncio.gather(*(world.standin.wait_answered(r, timeout=120) for r in records))
        return list(zip(records, answers, strict=True))

    results = world.run(body(), timeout=180)
    for record, answer in results:
        assert record.errors == [] and record.acked_at is not None, "acknowledged inside the 3 s window"
        assert answer["embeds"] or "don't cover" in answer["content"]
    assert_all_payloads_valid(world.standin)


# ---- threads ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_reply_in_thread_and_follow_ups_use_the_first_question_as_context(world: World) -> None:
    async def body() -> tuple[dict[str, Any], dict[str, Any]]:
        user = world.user("t1")
        asked = await world.standin.send_message(WAGNER, mention_bot=True, author=user)
        thread = await world.standin.wait_for(lambda: world.standin.threads.get(asked["id"]))
        first = await world.standin.wait_for(lambda: world.standin.bot_messages_in(thread["id"]))
        follow = await world.standin.send_message("and when did they say that?", channel_id=thread["id"], author=user)
        return first[0], await world.standin.wait_reply(follow, timeout=30 + world.chat.cooldown)

    with overridden(world, reply_in_thread=True):
        first, follow_up = world.run(body())
    assert first["embeds"] and follow_up["channel_id"] == first["channel_id"]
    assert world.engine.calls[-1] == ("and when did they say that?", WAGNER)


# ---- library -------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_sources_lists_the_indexed_articles(world: World) -> None:
    async def body() -> Any:
        record = await world.standin.slash("sources", user=world.user("src"))
        return record, await world.standin.wait_answered(record)

    record, shown = world.run(body())
    assert record.ack_flags & EPHEMERAL
    text = description(shown)
    assert "Bridge closure announced" in text and "passage" in text
    assert shown["embeds"][0]["title"] == f"Indexed articles ({world.engine.info.articles})"
    assert [c["label"] for row in shown["components"] for c in row["components"]] == ["Previous", "Next"]


def test_sources_paginates_long_lists() -> None:
    articles = tuple(
        IndexedArticle(f"id{i}", f"d{i}.txt", f"Title {i:02d}", None, "2024-01-01", None, "", 3) for i in range(40)
    )
    pages = source_pages(articles, IndexInfo("m", 1, "c", "2025-01-01T00:00:00+00:00", 40, 120, 300))
    assert len(pages) == 3 and "Title 00" in (pages[0].description or "") and "Page 3/3" in str(pages[2].footer.text)


@pytest.mark.slow
def test_reindex_needs_manage_server_and_reports_the_new_counts(world: World) -> None:
    (world.documents / "new.md").write_text(
        "---\ntitle: Lighthouse keeper retires\n---\nThe last lighthouse keeper of Vardø retired after forty years.\n",
        encoding="utf-8",
    )

    world.bot.feedback.remember_answer("feedfeedfeedfeed", "kept across rebuilds?", None, ())
    assert world.bot.feedback.record_vote("feedfeedfeedfeed", 7, -1)

    async def body() -> Any:
        refused = await world.standin.slash("reindex", user=world.user("nomanage"))
        refusal = await world.standin.wait_answered(refused)
        record = await world.standin.slash("reindex", user=world.user("admin"), permissions=MANAGE_GUILD)
        asked = await world.standin.send_message(WAGNER, mention_bot=True, author=world.user("during"))
        during = await world.standin.wait_reply(asked, timeout=60)
        report = await world.standin.wait_answered(record, timeout=120)
        after = await world.standin.send_message(
            "who retired after forty years?", mention_bot=True, author=world.user("after")
        )
        return refusal, during, report, await world.standin.wait_reply(after)

    refusal, during, report, after = world.run(body(), timeout=200)
    assert "Manage Server" in refusal["content"] and refusal["flags"] & EPHEMERAL
    assert during["embeds"], "questions are still answered while the index is rebuilt"
    assert "Indexed 28 articles" in report["content"] and "Questions now use it" in report["content"]
    assert "lighthouse keeper" in description(after)
    assert "kept across rebuilds?" in [vote.question for vote in world.bot.feedback.votes()]


# ---- tokens ----------------------------------------------------------------------------------------


def test_missing_token_is_one_clear_error(tmp_path: Path) -> None:
    settings = Settings(documents=tmp_path, index=tmp_path / "index", _env_file=None)
    with pytest.raises(DiscordTokenError) as raised:
        run_discord(settings, ChatSettings(_env_file=None))  # type: ignore[call-arg]
    message = str(raised.value)
    assert "DISCORD_TOKEN" in message and "Reset Token" in message and ".env" in message


@pytest.mark.slow
def test_a_rejected_token_is_one_clear_error_without_a_retry_loop(world: World) -> None:
    async def rejected(settings: Settings, token: str) -> str:
        with pytest.raises(DiscordTokenError) as raised:
            await asyncio.wait_for(serve(settings, world.chat, token, world.engine, guild_ready_timeout=0.05), 20)
        return str(raised.value)

    message = world.run(rejected(world.settings, "wrong-token"))
    assert "rejected" in message and "DISCORD_TOKEN" in message and "Reset Token" in message
    world.standin.reject_gateway_token = True
    identifies = sum(1 for p in world.standin.gateway_received if p["op"] == 2)
    try:
        message = world.run(rejected(world.settings, world.standin.token))
    finally:
        world.standin.reject_gateway_token = False
    assert "4004" in message
    assert sum(1 for p in world.standin.gateway_received if p["op"] == 2) == identifies + 1


@pytest.mark.slow
def test_the_token_never_appears_in_a_log_line(world: World) -> None:
    assert world.logs.lines, "discord.py logged at DEBUG during the tests"
    assert not [line for line in world.logs.lines if world.standin.token in line]


# ---- small pieces ----------------------------------------------------------------------------------


def test_strip_mentions_and_cooldown() -> None:
    assert strip_mentions("<@42> who  denied <@!42>?", 42) == "who denied ?"
    assert strip_mentions("<@&7> hi <@43>", 42, role_id=7) == "hi <@43>"
    cooldown = Cooldown(3)
    assert cooldown.wait(1, now=10) == 0 and cooldown.wait(1, now=11) == pytest.approx(2)
    assert cooldown.wait(2, now=11) == 0 and cooldown.wait(1, now=13.5) == 0
    assert Cooldown(0).wait(1, now=1) == 0 and Cooldown(0).wait(1, now=1) == 0
    queue = Cooldown(3)
    assert queue.queue(1, now=10) == 0 and queue.queue(1, now=11) == pytest.approx(2)
    assert queue.queue(1, now=11.5) is None, "one question waits per person, a third is refused"
    queue.done_waiting(1)
    assert queue.queue(1, now=12) == pytest.approx(4), "after the waiting one's turn at 13"


@pytest.mark.slow
def test_discord_py_is_pointed_at_the_configured_endpoints(world: World) -> None:
    assert world.standin.api_url == discord.http.Route.BASE
    assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == world.standin.gateway_url


@pytest.mark.slow
def test_run_discord_reads_everything_from_the_environment(world: World, tmp_path: Path) -> None:
    """The ``citebot discord`` entry in a real subprocess: env settings, model warm-up, Ctrl-C to stop."""

    async def body() -> tuple[dict[str, Any], bytes]:
        standin = DiscordStandIn(token="env-token-1234567890")
        await standin.start()
        env = {
            **os.environ,
            "DISCORD_TOKEN": standin.token,
            "CITEBOT_DOCUMENTS": str(world.settings.documents),
            "CITEBOT_INDEX": str(world.settings.index),
            "CITEBOT_DISCORD_API": standin.api_url,
            "CITEBOT_DISCORD_GATEWAY": standin.gateway_url,
        }
        code = "import bot.chat.bot as d, bot.settings as s; d.run_discord(s.Settings(), s.ChatSettings())"
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, cwd=tmp_path, env=env, stderr=asyncio.subprocess.PIPE
        )
        try:
            await standin.wait_for(lambda: standin.identifies, timeout=120)
            asked = await standin.send_message(WAGNER, mention_bot=True)
            reply = await standin.wait_reply(asked, timeout=60)
        finally:
            process.send_signal(signal.SIGINT)
            _, stderr = await asyncio.wait_for(process.communicate(), 30)
            await standin.stop()
        assert process.returncode == 0, stderr.decode()
        return reply, stderr

    reply, stderr = asyncio.run(body())
    assert any(word in description(reply) for word in DENIALS)
    assert b"env-token-1234567890" not in stderr and b"Traceback" not in stderr
